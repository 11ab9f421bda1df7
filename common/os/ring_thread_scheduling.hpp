// How a ring's (or virtqueue's) data-plane thread shares its CPU: under
// SCHED_BATCH (sched(7)), so that another domain's ring thread that an
// event wakes does not preempt it; it keeps its CPU until it blocks or its
// slice ends. Xen's schedulers do the same for vCPUs: a running vCPU keeps
// its pCPU for sched_ratelimit_us (1000 µs by default,
// SCHED_DEFAULT_RATELIMIT_US, xen/common/sched/core.c, credit and credit2
// alike) before a vCPU an event channel woke may take it, where Linux's
// default policy switches to every woken thread at once.
//
// Only the ring threads: a thread a ring thread wakes inside its own domain
// (a guest's job waiting for its completions) still preempts it, as inside
// a guest its kernel's scheduler would, because whether a woken thread
// preempts is decided by the woken thread's policy. The threads a ring
// thread starts inherit SCHED_BATCH (Linux resets only real-time policies
// at fork, even with SCHED_RESET_ON_FORK): io_uring's workers, which serve
// what cannot complete inline (a page-cache miss) and wake on its
// completion rather than on another domain's event.
#pragma once

namespace pvsim::os {

// The calling thread under SCHED_BATCH (no privilege needed from the
// default policy). False, the policy unchanged and errno set, when the
// kernel refuses.
bool schedule_as_ring_thread() noexcept;

}  // namespace pvsim::os
