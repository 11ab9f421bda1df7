#include "common/os/ring_thread_scheduling.hpp"

#include <sched.h>

namespace pvsim::os {

bool schedule_as_ring_thread() noexcept {
    const sched_param priority{};  // SCHED_BATCH takes priority 0 only
    // pid 0: the calling thread, not the process (Linux schedules threads).
    return ::sched_setscheduler(0, SCHED_BATCH, &priority) == 0;
}

}  // namespace pvsim::os
