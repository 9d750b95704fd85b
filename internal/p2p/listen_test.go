package p2p

import (
	"net"
	"slices"
	"strconv"
	"testing"
)

func TestReuseListen(t *testing.T) {
	// Two free ports: bound for a moment, then released.
	port := func(network string) int {
		if network == "tcp" {
			l, err := net.Listen("tcp4", "0.0.0.0:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			return l.Addr().(*net.TCPAddr).Port
		}
		c, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	tp, up := port("tcp"), port("udp")
	prev := []string{
		"/ip4/0.0.0.0/tcp/" + strconv.Itoa(tp),
		"/ip4/0.0.0.0/udp/" + strconv.Itoa(up) + "/quic-v1",
		"/ip4/127.0.0.1/tcp/99999999", // not a port: ignored
		"/dns/example.org/tcp/80",     // not an IP: ignored
		"garbage",
	}
	got := ReuseListen(prev)
	want := []string{"/ip4/0.0.0.0/tcp/" + strconv.Itoa(tp), "/ip4/0.0.0.0/udp/" + strconv.Itoa(up) + "/quic-v1", "/ip6/::/tcp/0", "/ip6/::/udp/0/quic-v1"}
	if !slices.Equal(got, want) {
		t.Fatalf("ReuseListen = %v, want %v", got, want)
	}

	// A port another program holds now is not reused.
	l, err := net.Listen("tcp4", "0.0.0.0:"+strconv.Itoa(tp))
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer l.Close()
	if got := ReuseListen(prev); got[0] != "/ip4/0.0.0.0/tcp/0" {
		t.Fatalf("a taken port was reused: %v", got)
	}
	if got := ReuseListen(nil); !slices.Equal(got, DefaultListen) {
		t.Fatalf("ReuseListen(nil) = %v", got)
	}
}
