package gateway

import (
	"encoding/json"
	"fmt"
	"reflect"
	"unicode/utf8"
)

// validate checks v (decoded with UseNumber) against s.
func (s *schema) validate(v any, at string) error {
	if len(s.types) > 0 && !s.typeMatches(v) {
		return fmt.Errorf("%s: want type %v", at, s.types)
	}
	if len(s.enum) > 0 && !s.inEnum(v) {
		return fmt.Errorf("%s: not one of the allowed values", at)
	}
	switch t := v.(type) {
	case map[string]any:
		return s.validateObject(t, at)
	case []any:
		return s.validateArray(t, at)
	case string:
		return s.validateString(t, at)
	case json.Number:
		return s.validateNumber(t, at)
	}
	return nil
}

func (s *schema) typeMatches(v any) bool {
	for _, t := range s.types {
		switch v := v.(type) {
		case map[string]any:
			if t == "object" {
				return true
			}
		case []any:
			if t == "array" {
				return true
			}
		case string:
			if t == "string" {
				return true
			}
		case bool:
			if t == "boolean" {
				return true
			}
		case nil:
			if t == "null" {
				return true
			}
		case json.Number:
			if t == "number" {
				return true
			}
			if _, err := v.Int64(); err == nil && t == "integer" {
				return true
			}
		}
	}
	return false
}

func (s *schema) inEnum(v any) bool {
	for _, e := range s.enum {
		if n, ok := v.(json.Number); ok {
			f, _ := n.Float64() // a decoded json.Number always parses
			if ef, ok := e.(float64); ok && ef == f {
				return true
			}
			continue
		}
		if reflect.DeepEqual(e, v) {
			return true
		}
	}
	return false
}

func (s *schema) validateObject(o map[string]any, at string) error {
	for _, r := range s.required {
		if _, ok := o[r]; !ok {
			return fmt.Errorf("%s: %q is required", at, r)
		}
	}
	for k, v := range o {
		sub, ok := s.properties[k]
		if !ok {
			if s.additional != nil && !*s.additional {
				return fmt.Errorf("%s: %q is not allowed", at, k)
			}
			continue
		}
		if err := sub.validate(v, at+"."+k); err != nil {
			return err
		}
	}
	return nil
}

func (s *schema) validateArray(a []any, at string) error {
	if s.minItems != nil && len(a) < *s.minItems || s.maxItems != nil && len(a) > *s.maxItems {
		return fmt.Errorf("%s: wrong number of items", at)
	}
	if s.items == nil {
		return nil
	}
	for i, v := range a {
		if err := s.items.validate(v, fmt.Sprintf("%s[%d]", at, i)); err != nil {
			return err
		}
	}
	return nil
}

func (s *schema) validateString(str string, at string) error {
	n := utf8.RuneCountInString(str)
	if s.minLength != nil && n < *s.minLength || s.maxLength != nil && n > *s.maxLength {
		return fmt.Errorf("%s: wrong length", at)
	}
	if s.pattern != nil && !s.pattern.MatchString(str) {
		return fmt.Errorf("%s: does not match the pattern", at)
	}
	return nil
}

func (s *schema) validateNumber(num json.Number, at string) error {
	f, err := num.Float64()
	if err != nil {
		return fmt.Errorf("%s: not a number", at)
	}
	if s.minimum != nil && f < *s.minimum || s.maximum != nil && f > *s.maximum {
		return fmt.Errorf("%s: out of range", at)
	}
	return nil
}
