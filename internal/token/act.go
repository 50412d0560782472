package token

import (
	"encoding/json"
	"fmt"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
)

// wireAct is the JSON form of an act claim (RFC 8693 section 4.1).
type wireAct struct {
	Subject string   `json:"sub"`
	Act     *wireAct `json:"act,omitempty"`
}

func actToWire(a *gatehouse.Actor) *wireAct {
	if a == nil {
		return nil
	}
	return &wireAct{Subject: a.Subject, Act: actToWire(a.Actor)}
}

// maxActorSubject bounds one actor's sub; ours are client ids (128 bytes).
const maxActorSubject = 256

// ParseAct reads an act claim strictly: an object whose only members are a
// non-empty string sub and, optionally, a nested act of the same shape, at
// most gatehouse.MaxActorDepth deep. Gatehouse mints nothing else, so a
// token carrying other members (or an act that is not an object) was not
// made here and is refused rather than half understood. The JSON must
// already have passed jose.DecodeJSON's strict checks (no duplicates).
func ParseAct(raw json.RawMessage) (*gatehouse.Actor, error) {
	return parseAct(raw, 1)
}

func parseAct(raw json.RawMessage, depth int) (*gatehouse.Actor, error) {
	if depth > gatehouse.MaxActorDepth {
		return nil, fmt.Errorf("act chain deeper than %d", gatehouse.MaxActorDepth)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("act must be an object")
	}
	for k := range m {
		if k != "sub" && k != "act" {
			return nil, fmt.Errorf("act has an unexpected member")
		}
	}
	var sub string
	if err := json.Unmarshal(m["sub"], &sub); err != nil || sub == "" || len(sub) > maxActorSubject {
		return nil, fmt.Errorf("act.sub must be a non-empty string of at most %d bytes", maxActorSubject)
	}
	a := &gatehouse.Actor{Subject: sub}
	if inner, ok := m["act"]; ok {
		var err error
		if a.Actor, err = parseAct(inner, depth+1); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// parseActClaim is ParseAct on a claims set's raw act member, for callers
// that have not already checked the JSON.
func parseActClaim(raw []byte) (*gatehouse.Actor, error) {
	var v json.RawMessage
	if err := jose.DecodeJSON(raw, &v); err != nil {
		return nil, err
	}
	return ParseAct(v)
}
