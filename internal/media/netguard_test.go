package media

import (
	"net/netip"
	"testing"
)

var ipPolicyCases = []struct {
	ip   string
	want bool
}{
	{"93.184.215.14", true},
	{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true},
	{"8.8.8.8", true},
	{"127.0.0.1", false},
	{"127.255.255.254", false},
	{"10.1.2.3", false},
	{"172.31.255.255", false},
	{"172.32.0.1", true},
	{"192.168.0.1", false},
	{"100.64.0.1", false},
	{"100.127.255.255", false},
	{"100.128.0.1", true},
	{"169.254.169.254", false},
	{"0.0.0.0", false},
	{"224.0.0.251", false},
	{"255.255.255.255", false},
	{"198.18.0.1", false},
	{"::1", false},
	{"::", false},
	{"::ffff:127.0.0.1", false},
	{"::ffff:10.0.0.1", false},
	{"::ffff:8.8.8.8", true},
	{"fe80::1", false},
	{"fe80::1%eth0", false},
	{"fd12:3456::1", false},
	{"ff02::1", false},
	{"64:ff9b::a00:1", false},
	{"2002:a00:1::1", false},
	{"2001:db8::1", false},
}

func TestIPPolicy(t *testing.T) {
	p, err := newIPPolicy([]string{"8.8.8.0/24"}, []string{"10.9.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ipPolicyCases {
		want := c.want
		if c.ip == "8.8.8.8" || c.ip == "::ffff:8.8.8.8" {
			want = false // denied by the configuration
		}
		if got := p.allowed(netip.MustParseAddr(c.ip)); got != want {
			t.Errorf("allowed(%s) = %t; want %t", c.ip, got, want)
		}
	}
	if !p.allowed(netip.MustParseAddr("10.9.1.1")) {
		t.Error("allowed(10.9.1.1) = false; want true: inside allow_ips")
	}
	if err := p.control("tcp4", "10.0.0.1:80", nil); err == nil {
		t.Error("control(10.0.0.1:80) = nil; want an error")
	}
	if err := p.control("tcp4", "93.184.215.14:443", nil); err != nil {
		t.Errorf("control(93.184.215.14:443) = %v; want nil", err)
	}
}
