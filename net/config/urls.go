package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// URLs is a list of URLs. As a flag or a YAML string it is comma-separated
// (etcd's format); YAML may also give a sequence.
type URLs []string

// String joins the URLs with commas (flag.Value).
func (u *URLs) String() string {
	if u == nil {
		return ""
	}
	return strings.Join(*u, ",")
}

// Set replaces the list with the comma-separated s (flag.Value).
func (u *URLs) Set(s string) error {
	*u = splitURLs(s)
	return nil
}

func splitURLs(s string) URLs {
	var out URLs
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// UnmarshalYAML accepts "a,b" or [a, b].
func (u *URLs) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*u = splitURLs(n.Value)
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*u = splitURLs(strings.Join(list, ","))
		return nil
	}
	return fmt.Errorf("line %d: want a URL list (\"a,b\" or a sequence)", n.Line)
}
