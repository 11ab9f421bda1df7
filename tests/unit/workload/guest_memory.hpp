// A guest's memory for the workload tests: a DomainMemory over a private
// shared-memory object, as a domain process has it.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <string>

#include "common/os/shared_memory.hpp"
#include "common/xen/ring.hpp"
#include "hypervisor/client/domain_memory.hpp"

namespace pvsim::test {

class GuestMemory {
  public:
    explicit GuestMemory(std::size_t pages)
        : memory_(os::SharedMemory::create(unique_name(), pages * xen::kXenPageSize), 1) {}

    hypervisor::DomainMemory& operator*() { return memory_; }
    hypervisor::DomainMemory* operator->() { return &memory_; }

  private:
    // Tests run in parallel processes: the pid keeps names apart.
    static std::string unique_name() {
        static std::atomic<unsigned> counter{0};
        return os::shm_name("workloadtest" + std::to_string(::getpid()),
                            "memory" + std::to_string(counter++));
    }

    hypervisor::DomainMemory memory_;
};

}  // namespace pvsim::test
