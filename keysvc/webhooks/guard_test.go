package webhooks

import (
	"net/netip"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		refused bool
	}{
		{"93.184.215.14", false}, {"8.8.8.8", false}, {"2606:4700:4700::1111", false}, {"100.128.0.1", false}, {"172.32.0.1", false},
		{"127.0.0.1", true}, {"127.255.255.254", true}, {"10.255.0.1", true}, {"172.16.0.1", true}, {"172.31.255.255", true},
		{"192.168.0.1", true}, {"169.254.169.254", true}, {"169.254.1.1", true}, {"100.64.0.1", true}, {"100.127.255.255", true},
		{"0.0.0.0", true}, {"224.0.0.1", true}, {"255.255.255.255", true},
		{"::", true}, {"::1", true}, {"fc00::1", true}, {"fd00:ec2::254", true}, {"fe80::1%eth0", true}, {"ff02::1", true},
		{"::ffff:127.0.0.1", true}, {"::ffff:169.254.169.254", true}, {"::ffff:8.8.8.8", false},
		{"64:ff9b::7f00:1", true}, {"64:ff9b::808:808", false}, {"2002:7f00:1::1", true}, {"2002:808:808::1", false},
		{"::127.0.0.1", true},
	} {
		err := checkAddr(netip.MustParseAddr(tc.addr))
		if (err != nil) != tc.refused {
			t.Errorf("checkAddr(%s) = %v, want refused %t", tc.addr, err, tc.refused)
		}
	}
}
