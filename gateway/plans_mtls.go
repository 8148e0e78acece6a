package gateway

import (
	"encoding/json"
	"errors"
)

// mtlsPlan is an "mtls" plan's compiled configuration.
type mtlsPlan struct{}

func compileMTLSPlan(raw json.RawMessage) (*mtlsPlan, error) {
	return nil, errors.New("mtls plans are not supported yet")
}

func (p *mtlsPlan) authenticate(x *exchange, plan *planRuntime) (bool, *failure) {
	return false, nil
}
