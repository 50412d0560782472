package sqlite

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/storetest"
)

func TestGrantHorizonIsTheContracts(t *testing.T) {
	if grantHorizon != storetest.GrantRevocationHorizon {
		t.Fatalf("grantHorizon = %v, want storetest.GrantRevocationHorizon (%v)", grantHorizon, storetest.GrantRevocationHorizon)
	}
}
