package sqlite

import (
	"encoding/json"
	"errors"

	"github.com/gatehouse/gatehouse"
)

// actJSON is the stored form of a gatehouse.Actor chain, with its own JSON
// names (those of the RFC 8693 act claim).
type actJSON struct {
	Sub string   `json:"sub"`
	Act *actJSON `json:"act,omitempty"`
}

// actValue encodes a chain for the act column; nil is NULL.
func actValue(a *gatehouse.Actor) (any, error) {
	if a == nil {
		return nil, nil
	}
	var enc func(a *gatehouse.Actor) *actJSON
	enc = func(a *gatehouse.Actor) *actJSON {
		if a == nil {
			return nil
		}
		return &actJSON{Sub: a.Subject, Act: enc(a.Actor)}
	}
	b, err := json.Marshal(enc(a))
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func actOf(s string) (*gatehouse.Actor, error) {
	var w *actJSON
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return nil, err
	}
	if w == nil {
		return nil, errors.New("null chain")
	}
	var dec func(w *actJSON) *gatehouse.Actor
	dec = func(w *actJSON) *gatehouse.Actor {
		if w == nil {
			return nil
		}
		return &gatehouse.Actor{Subject: w.Sub, Actor: dec(w.Act)}
	}
	return dec(w), nil
}

// tlsSubjectJSON is the stored form of gatehouse.TLSSubject.
type tlsSubjectJSON struct {
	DN    string `json:"dn,omitempty"`
	DNS   string `json:"dns,omitempty"`
	URI   string `json:"uri,omitempty"`
	IP    string `json:"ip,omitempty"`
	Email string `json:"email,omitempty"`
}

// exchangeJSON is the stored form of a gatehouse.ExchangeRule.
type exchangeJSON struct {
	From string   `json:"from"`
	To   []string `json:"to"`
}

// mtlsValues encodes a client's tls_subject and token_exchange columns.
func mtlsValues(c *gatehouse.Client) (tlsSubject, exchange any, err error) {
	if !c.TLSSubject.IsZero() {
		s := c.TLSSubject
		b, err := json.Marshal(tlsSubjectJSON{DN: s.DN, DNS: s.DNS, URI: s.URI, IP: s.IP, Email: s.Email})
		if err != nil {
			return nil, nil, err
		}
		tlsSubject = string(b)
	}
	if len(c.TokenExchange) > 0 {
		rules := make([]exchangeJSON, len(c.TokenExchange))
		for i, r := range c.TokenExchange {
			rules[i] = exchangeJSON{From: r.From, To: r.To}
		}
		b, err := json.Marshal(rules)
		if err != nil {
			return nil, nil, err
		}
		exchange = string(b)
	}
	return tlsSubject, exchange, nil
}

// scanMTLS decodes the columns mtlsValues wrote into c.
func scanMTLS(c *gatehouse.Client, tlsSubject, exchange *string) error {
	if tlsSubject != nil {
		var s tlsSubjectJSON
		if err := json.Unmarshal([]byte(*tlsSubject), &s); err != nil {
			return err
		}
		c.TLSSubject = gatehouse.TLSSubject{DN: s.DN, DNS: s.DNS, URI: s.URI, IP: s.IP, Email: s.Email}
	}
	if exchange != nil {
		var rules []exchangeJSON
		if err := json.Unmarshal([]byte(*exchange), &rules); err != nil {
			return err
		}
		for _, r := range rules {
			c.TokenExchange = append(c.TokenExchange, gatehouse.ExchangeRule{From: r.From, To: r.To})
		}
	}
	return nil
}
