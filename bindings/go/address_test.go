package lookupd

import "testing"

// dialHost turns a listen address into one a client can dial; it is tested
// here because tests start instances on 127.0.0.1:0 only.
func TestDialHost(t *testing.T) {
	for _, tc := range []struct {
		listen any
		want   string
	}{
		{nil, "127.0.0.1"}, // absent: the default, 0.0.0.0
		{"0.0.0.0:4160", "127.0.0.1"},
		{":4161", "127.0.0.1"},
		{"127.0.0.1:0", "127.0.0.1"},
		{"[::]:4160", "::1"},
		{"[::1]:0", "::1"},
		{"192.0.2.7:4160", "192.0.2.7"},
		{"lookupd.internal:4160", "lookupd.internal"},
		{42, "127.0.0.1"},
	} {
		if got := dialHost(tc.listen); got != tc.want {
			t.Errorf("dialHost(%#v) = %q, want %q", tc.listen, got, tc.want)
		}
	}
}
