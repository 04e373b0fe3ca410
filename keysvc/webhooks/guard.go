package webhooks

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"keyport/models"
)

// refusedPrefixes are the address ranges a webhook may not reach outside
// development mode, each with the word the refusal uses.
var refusedPrefixes = []struct {
	p   netip.Prefix
	why string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a reserved"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a reserved"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved"},
	{netip.MustParsePrefix("::/128"), "an unspecified"},
	{netip.MustParsePrefix("::1/128"), "a loopback"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible"},
	{netip.MustParsePrefix("fc00::/7"), "a unique local (private)"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast"},
}

// metadataAddrs are the cloud providers' instance metadata services.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, ...
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
}

// Prefixes whose addresses embed an IPv4 address that is checked instead.
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// checkAddr says why ip may not receive webhooks, or nil.
func checkAddr(ip netip.Addr) error {
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return &refusedError{why: "an invalid"}
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return &refusedError{why: "a cloud metadata"}
		}
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return checkAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixTo4.Contains(ip):
			return checkAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	for _, r := range refusedPrefixes {
		if r.p.Contains(ip) {
			return &refusedError{why: r.why}
		}
	}
	return nil
}

// refusedError is a refused address; its text names the kind of address,
// not the URL (which may carry a token).
type refusedError struct{ why string }

func (e *refusedError) Error() string {
	return "webhooks: refused to connect to " + e.why + " address; webhooks go to public addresses only"
}

// LookupFunc resolves a host name to its addresses.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

func defaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// urlError is a refused endpoint URL, safe to show.
func urlError(msg string) error { return &models.ValidationError{Field: "url", Message: msg} }

// ValidateURL checks an endpoint URL for registration and returns it
// normalized: https only (http too in development mode), no credentials,
// and, outside development mode, a host whose every address is public.
func (s *Service) ValidateURL(ctx context.Context, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", urlError("is required")
	}
	if len(raw) > 2000 {
		return "", urlError("is too long (at most 2000 characters)")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return "", urlError("is not a valid absolute URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && s.dev:
	case u.Scheme == "http":
		return "", urlError("must use https")
	default:
		return "", urlError("must be an https URL")
	}
	if u.User != nil {
		return "", urlError("must not contain a user name or password")
	}
	if u.Fragment != "" {
		return "", urlError("must not have a fragment (#...)")
	}
	host := u.Hostname()
	if host == "" {
		return "", urlError("has no host")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return "", urlError("has an invalid port")
		}
	}
	if s.dev {
		return u.String(), nil
	}
	addrs, err := s.resolve(ctx, host)
	if err != nil {
		return "", urlError("host does not resolve")
	}
	for _, a := range addrs {
		if err := checkAddr(a); err != nil {
			return "", urlError("resolves to " + err.(*refusedError).why + " address; webhooks go to public addresses only")
		}
	}
	return u.String(), nil
}

// resolve returns host's addresses (host itself when it is an address).
func (s *Service) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := s.lookup(ctx, host)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("webhooks: no addresses")
	}
	return addrs, err
}

// dialContext resolves the host again at connect time and dials its
// addresses one by one; the dialer's Control function checks the address
// actually dialed, so a name that re-resolves to a private address (DNS
// rebinding) is refused.
func (s *Service) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := s.resolve(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("webhooks: resolve host: %w", err)
		}
		var last error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			last = err
		}
		return nil, last
	}
}

// control is the dialer's last word on the address being dialed.
func (s *Service) control(_, address string, _ syscall.RawConn) error {
	if s.dev {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &refusedError{why: "an unparsable"}
	}
	return checkAddr(ap.Addr())
}
