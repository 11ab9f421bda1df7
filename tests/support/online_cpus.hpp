// Linux's num_online_cpus(), as the kernel reports it to user space: the
// CPUs listed in /sys/devices/system/cpu/online (a cpulist such as
// "0-3,6,8-9"; Documentation/ABI/testing/sysfs-devices-system-cpu). A test
// whose reference value is a function of the online CPUs (xen-blkback's
// max_queues, xen-blkfront's) reads them here, not through pvsim.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace pvsim::test {

inline unsigned online_cpus_from_sysfs() {
    std::ifstream file("/sys/devices/system/cpu/online");
    std::string list;
    std::getline(file, list);
    EXPECT_FALSE(list.empty()) << "no /sys/devices/system/cpu/online";
    unsigned count = 0;
    std::istringstream ranges(list);
    for (std::string range; std::getline(ranges, range, ',');) {
        const std::size_t dash = range.find('-');
        const unsigned first = static_cast<unsigned>(std::stoul(range.substr(0, dash)));
        const unsigned last = dash == std::string::npos
                                  ? first
                                  : static_cast<unsigned>(std::stoul(range.substr(dash + 1)));
        count += last - first + 1;
    }
    return count;
}

}  // namespace pvsim::test
