// Package platform normalizes image platforms as containerd does (the
// library BuildKit uses), for the packages that match or build them.
package platform
