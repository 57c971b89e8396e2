package sim

import (
	"testing"
	"time"
)

func TestHostCursorAndClock(t *testing.T) {
	h := NewHost(1, 2.0)
	h.BeginStep(10 * Millisecond)
	h.AddCost(5 * Millisecond)
	if got := h.Cursor(); got != 15*Millisecond {
		t.Fatalf("Cursor = %d, want 15ms", got)
	}
	if got := h.Now(); got != 30*time.Millisecond {
		t.Fatalf("Now = %v at rate 2, want 30ms", got)
	}
	// A step that starts earlier than the last cursor must not move the
	// clock backwards.
	h.BeginStep(12 * Millisecond)
	if got := h.Now(); got != 30*time.Millisecond {
		t.Fatalf("clock went backwards to %v", got)
	}
	if got := h.VirtualFor(100 * time.Millisecond); got != 50*Millisecond {
		t.Fatalf("VirtualFor(100ms) at rate 2 = %d, want 50ms", got)
	}
	slow := NewHost(2, 0.5)
	if got := slow.VirtualFor(100 * time.Millisecond); got != 200*Millisecond {
		t.Fatalf("VirtualFor(100ms) at rate 0.5 = %d, want 200ms", got)
	}
}

func TestHostClockNoOverflow(t *testing.T) {
	h := NewHost(1, 2.0)
	h.BeginStep(100 * 24 * 3600 * Second) // 100 virtual days
	if got, want := h.Now(), 200*24*time.Hour; got != want {
		t.Fatalf("Now = %v, want %v", got, want)
	}
}

func TestHostCrashRestart(t *testing.T) {
	h := NewHost(3, 1)
	h.Crash()
	if h.Alive || h.Incarnation != 1 {
		t.Fatalf("after Crash: alive=%v inc=%d", h.Alive, h.Incarnation)
	}
	h.Restart()
	if !h.Alive || h.Incarnation != 1 {
		t.Fatalf("after Restart: alive=%v inc=%d", h.Alive, h.Incarnation)
	}
}
