package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
)

// jsonValidation is the json-validation policy: the request body must be
// JSON valid against a schema, else 400.
//
// edgegate implements the JSON Schema keywords most API schemas use: type,
// properties, required, additionalProperties (boolean), items, enum,
// minimum, maximum, minLength, maxLength, pattern, minItems, maxItems.
// A schema using any other keyword is refused when the API is compiled, so
// nothing is silently left unchecked.
type jsonValidation struct {
	schema  *schema
	message string
}

type jsonValidationConfig struct {
	Scope               string `json:"scope,omitempty"`
	ErrorMessage        string `json:"errorMessage,omitempty"`
	Schema              string `json:"schema"`
	DeepCheck           bool   `json:"deepCheck,omitempty"`
	ValidateUnchecked   bool   `json:"validateUnchecked,omitempty"`
	StraightRespondMode bool   `json:"straightRespondMode,omitempty"`
}

func compileJSONValidation(raw []byte) (any, error) {
	var c jsonValidationConfig
	if err := strictJSON(raw, &c); err != nil {
		return nil, err
	}
	if c.Scope != "" && c.Scope != "REQUEST" && c.Scope != "REQUEST_CONTENT" {
		return nil, fieldErr("scope", fmt.Errorf("is %q; edgegate validates requests (REQUEST_CONTENT)", c.Scope))
	}
	s, err := parseSchema([]byte(c.Schema))
	if err != nil {
		return nil, fieldErr("schema", err)
	}
	msg := c.ErrorMessage
	if msg == "" {
		msg = "Bad request"
	}
	return &jsonValidation{schema: s, message: msg}, nil
}

// maxValidatedBody bounds the body json-validation reads into memory.
const maxValidatedBody = 8 << 20

func (p *jsonValidation) onRequest(x *exchange) *failure {
	body, err := io.ReadAll(io.LimitReader(x.r.Body, min(x.maxBody, maxValidatedBody)+1))
	if err != nil {
		return &failure{http.StatusBadRequest, "JSON_INVALID_PAYLOAD", p.message}
	}
	if int64(len(body)) > min(x.maxBody, maxValidatedBody) {
		return errContentTooLarge
	}
	x.r.Body = io.NopCloser(bytes.NewReader(body))
	x.r.ContentLength = int64(len(body))
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return &failure{http.StatusBadRequest, "JSON_INVALID_FORMAT", p.message}
	}
	if err := p.schema.validate(v, "$"); err != nil {
		return &failure{http.StatusBadRequest, "JSON_INVALID_PAYLOAD", p.message}
	}
	return nil
}

// schema is a compiled JSON Schema subset.
type schema struct {
	types      []string
	properties map[string]*schema
	required   []string
	additional *bool
	items      *schema
	enum       []any
	minimum    *float64
	maximum    *float64
	minLength  *int
	maxLength  *int
	pattern    *regexp.Regexp
	minItems   *int
	maxItems   *int
}

// schemaIgnored are annotation keywords that do not constrain.
var schemaIgnored = map[string]bool{"$schema": true, "$id": true, "id": true, "title": true, "description": true, "default": true, "examples": true, "$comment": true}

func parseSchema(data []byte) (*schema, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return schemaFrom(raw, "")
}

func schemaFrom(raw map[string]json.RawMessage, at string) (*schema, error) {
	s := &schema{}
	for k, v := range raw {
		if err := s.set(k, v, at); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *schema) set(k string, v json.RawMessage, at string) error {
	bad := func(err error) error { return fmt.Errorf("%s%s: %w", at, k, err) }
	switch k {
	case "type":
		var one string
		if json.Unmarshal(v, &one) == nil {
			s.types = []string{one}
			return nil
		}
		if err := json.Unmarshal(v, &s.types); err != nil {
			return bad(err)
		}
	case "properties":
		var props map[string]map[string]json.RawMessage
		if err := json.Unmarshal(v, &props); err != nil {
			return bad(err)
		}
		s.properties = map[string]*schema{}
		for name, p := range props {
			sub, err := schemaFrom(p, at+"properties."+name+".")
			if err != nil {
				return err
			}
			s.properties[name] = sub
		}
	case "items":
		var it map[string]json.RawMessage
		if err := json.Unmarshal(v, &it); err != nil {
			return bad(errors.New("only a single schema is supported"))
		}
		sub, err := schemaFrom(it, at+"items.")
		if err != nil {
			return err
		}
		s.items = sub
	case "pattern":
		var p string
		if err := json.Unmarshal(v, &p); err != nil {
			return bad(err)
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return bad(err)
		}
		s.pattern = re
	case "required":
		return unmarshalOr(v, &s.required, bad)
	case "additionalProperties":
		s.additional = new(bool)
		if err := json.Unmarshal(v, s.additional); err != nil {
			return bad(errors.New("only true or false is supported"))
		}
	case "enum":
		return unmarshalOr(v, &s.enum, bad)
	case "minimum":
		s.minimum = new(float64)
		return unmarshalOr(v, s.minimum, bad)
	case "maximum":
		s.maximum = new(float64)
		return unmarshalOr(v, s.maximum, bad)
	case "minLength":
		s.minLength = new(int)
		return unmarshalOr(v, s.minLength, bad)
	case "maxLength":
		s.maxLength = new(int)
		return unmarshalOr(v, s.maxLength, bad)
	case "minItems":
		s.minItems = new(int)
		return unmarshalOr(v, s.minItems, bad)
	case "maxItems":
		s.maxItems = new(int)
		return unmarshalOr(v, s.maxItems, bad)
	default:
		if !schemaIgnored[k] {
			return bad(errors.New("this JSON Schema keyword is not supported by edgegate"))
		}
	}
	return nil
}

func unmarshalOr(v json.RawMessage, dst any, bad func(error) error) error {
	if err := json.Unmarshal(v, dst); err != nil {
		return bad(err)
	}
	return nil
}
