// Package analytics defines the per-request metrics record the gateway
// produces and the Cloud Gate stores. Field names follow Gravitee's v4
// metrics so dashboards and exports built for Gravitee read them unchanged.
package analytics

// Record is one v4 metrics record: exactly one per request the gateway
// answered, whether it was proxied or refused.
type Record struct {
	Timestamp              int64  `json:"timestamp"` // Unix milliseconds when the request arrived
	RequestID              string `json:"requestId"` // unique per request; the Cloud Gate deduplicates on it
	TransactionID          string `json:"transactionId"`
	APIID                  string `json:"apiId,omitempty"`
	APIName                string `json:"apiName,omitempty"`
	PlanID                 string `json:"planId,omitempty"`
	ApplicationID          string `json:"applicationId,omitempty"`
	SubscriptionID         string `json:"subscriptionId,omitempty"`
	ClientIdentifier       string `json:"clientIdentifier,omitempty"`
	OrganizationID         string `json:"organizationId,omitempty"`
	EnvironmentID          string `json:"environmentId,omitempty"`
	GatewayID              string `json:"gateway,omitempty"`
	HTTPMethod             string `json:"httpMethod"`
	LocalAddress           string `json:"localAddress,omitempty"`
	RemoteAddress          string `json:"remoteAddress,omitempty"`
	Host                   string `json:"host,omitempty"`
	URI                    string `json:"uri"`
	PathInfo               string `json:"pathInfo,omitempty"`
	MappedPath             string `json:"mappedPath,omitempty"`
	UserAgent              string `json:"userAgent,omitempty"`
	RequestContentLength   int64  `json:"requestContentLength"`
	Endpoint               string `json:"endpoint,omitempty"`
	EndpointResponseTimeMs int64  `json:"endpointResponseTimeMs"`
	Status                 int    `json:"status"`
	ResponseContentLength  int64  `json:"responseContentLength"`
	GatewayResponseTimeMs  int64  `json:"gatewayResponseTimeMs"`
	GatewayLatencyMs       int64  `json:"gatewayLatencyMs"`
	SecurityType           string `json:"securityType,omitempty"`
	SecurityToken          string `json:"securityToken,omitempty"`
	ErrorKey               string `json:"errorKey,omitempty"`
	ErrorMessage           string `json:"errorMessage,omitempty"`
}
