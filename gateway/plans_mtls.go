package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
)

// mtlsPlan is an "mtls" plan. The client proves it holds the private key of
// its certificate in the TLS handshake; the plan then finds the
// subscription whose clientId is the SHA-256 fingerprint (hex, lower case)
// of that certificate. Requests without a client certificate are not
// handled by the plan.
type mtlsPlan struct{}

var errCertInvalid = &failure{http.StatusUnauthorized, "CLIENT_CERTIFICATE_INVALID", msgUnauthorized}

func compileMTLSPlan(raw json.RawMessage) (*mtlsPlan, error) {
	var cfg struct{}
	if err := strictJSON(raw, &cfg); err != nil {
		return nil, err
	}
	return &mtlsPlan{}, nil
}

// CertFingerprint is the clientId an mtls subscription names: the SHA-256
// of the certificate's DER, in lower-case hex.
func CertFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func (p *mtlsPlan) authenticate(x *exchange, plan *planRuntime) (bool, *failure) {
	tls := x.r.TLS
	if tls == nil || len(tls.PeerCertificates) == 0 {
		return false, nil
	}
	x.rec.SecurityType = "MTLS"
	s := x.api.clientSubscription(plan, CertFingerprint(tls.PeerCertificates[0].Raw))
	if s == nil || !s.validAt(x.startMs) {
		return true, errCertInvalid
	}
	x.sub = s
	return true, nil
}
