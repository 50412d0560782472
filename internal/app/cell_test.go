package app

import (
	"strings"
	"testing"
)

// TestAdminTableCellsAreTerminalSafe: app names, reasons and usernames come
// from developers and clients; the admin CLI's tables print them escaped.
func TestAdminTableCellsAreTerminalSafe(t *testing.T) {
	for _, in := range []any{"shop\x1b[2J\x1b]0;PWNED\a", []any{"ok", "x\r\nFAKE-ROW"}, "tab\there"} {
		got := cell(in)
		for _, b := range []byte(got) {
			if b < 0x20 || b == 0x7f {
				t.Errorf("cell(%q) = %q keeps control byte %#x", in, got, b)
			}
		}
	}
	if got := cell("Shopfront"); got != "Shopfront" {
		t.Errorf("plain text changed: %q", got)
	}
	if !strings.Contains(cell("a\x1bb"), `\x1b`) {
		t.Errorf("escape not shown: %q", cell("a\x1bb"))
	}
}
