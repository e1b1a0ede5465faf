package config

import "net"

// allInterfaces reports whether a listen address's host binds every
// interface ("", 0.0.0.0, ::).
func allInterfaces(host string) bool {
	ip := net.ParseIP(host)
	return host == "" || (ip != nil && ip.IsUnspecified())
}

// LocalAddress is where a client on this machine reaches a server
// listening on listen: an all-interfaces address becomes 127.0.0.1, any
// other is used as it is.
func LocalAddress(listen string) string {
	host, port, _ := net.SplitHostPort(listen)
	if allInterfaces(host) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
