package memory_test

import (
	"testing"

	"metastore/core/engine"
	"metastore/engines/conformance"
	"metastore/engines/memory"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(*testing.T) engine.Engine { return memory.New() })
}
