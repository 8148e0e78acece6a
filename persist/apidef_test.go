package persist

import "fmt"

// apiJSON returns a realistic Gravitee v4 proxy API definition (keyless and
// API-key plans, a rate-limit flow) numbered i, about 1.5 KB.
func apiJSON(i int) string {
	return fmt.Sprintf(`{
  "id": "api-%[1]d",
  "crossId": "cross-%[1]d",
  "name": "Orders service %[1]d",
  "apiVersion": "1.%[1]d.0",
  "definitionVersion": "V4",
  "type": "proxy",
  "description": "Orders, invoices and shipment tracking for branch %[1]d",
  "tags": ["branch", "orders"],
  "labels": ["internal"],
  "properties": [{"key": "region", "value": "eu-west", "encrypted": false}],
  "listeners": [{
    "type": "http",
    "paths": [{"path": "/orders-%[1]d/"}],
    "entrypoints": [{"type": "http-proxy", "qos": "auto"}]
  }],
  "endpointGroups": [{
    "name": "default-group",
    "type": "http-proxy",
    "loadBalancer": {"type": "round-robin"},
    "endpoints": [{
      "name": "primary",
      "type": "http-proxy",
      "weight": 1,
      "inheritConfiguration": false,
      "configuration": {"target": "http://10.0.%[2]d.%[3]d:8080/orders"},
      "sharedConfigurationOverride": {"http": {"connectTimeout": 3000, "readTimeout": 10000, "keepAlive": true}}
    }]
  }],
  "plans": [
    {"id": "plan-keyless-%[1]d", "name": "Open", "security": {"type": "key-less"}, "mode": "standard",
     "validation": "auto", "status": "published", "flows": []},
    {"id": "plan-key-%[1]d", "name": "Partners", "security": {"type": "api-key"}, "mode": "standard",
     "validation": "manual", "status": "published",
     "flows": [{"name": "quota", "enabled": true,
       "selectors": [{"type": "http", "path": "/", "pathOperator": "STARTS_WITH"}],
       "request": [{"name": "Rate limit", "enabled": true, "policy": "rate-limit",
         "configuration": {"rate": {"limit": 100, "periodTime": 1, "periodTimeUnit": "SECONDS"}}}]}]}
  ],
  "flows": [{"name": "headers", "enabled": true,
    "selectors": [{"type": "http", "path": "/", "pathOperator": "STARTS_WITH"}],
    "request": [{"name": "Transform headers", "enabled": true, "policy": "transform-headers",
      "configuration": {"addHeaders": [{"name": "X-Branch", "value": "branch-%[1]d"}]}}]}],
  "flowExecution": {"mode": "default", "matchRequired": false},
  "analytics": {"enabled": true},
  "state": "STARTED",
  "deployedAt": "2026-11-20T10:00:00Z"
}`, i, i/250, i%250)
}
