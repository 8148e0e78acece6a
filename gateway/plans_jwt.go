package gateway

import (
	"encoding/json"
	"errors"
)

// jwtPlan is a "jwt" plan's compiled configuration.
type jwtPlan struct{}

func compileJWTPlan(env *compileEnv, raw json.RawMessage) (*jwtPlan, error) {
	return nil, errors.New("jwt plans are not supported yet")
}

func (p *jwtPlan) authenticate(x *exchange, plan *planRuntime) (bool, *failure) {
	return false, nil
}
