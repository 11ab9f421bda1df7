#include "common/os/cpu_list.hpp"

#include <pthread.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/os/child_process.hpp"
#include "tests/support/cpus_allowed.hpp"

namespace pvsim::os {
namespace cpu_list_test {

using ::testing::HasSubstr;

std::string error_of(std::string_view text) {
    try {
        (void)CpuList::parse(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "no error";
}

TEST(CpuList, ReadsXlsItemsInOrderAndPrintsTheKernelsCpulist) {
    EXPECT_EQ(CpuList::parse("2").to_string(), "2");
    EXPECT_EQ(CpuList::parse("0-3").to_string(), "0-3");
    EXPECT_EQ(CpuList::parse("0-3,^1").to_string(), "0,2-3");
    EXPECT_EQ(CpuList::parse("5,0-1,3").to_string(), "0-1,3,5");
    // In order, as xl's vcpupin_parse: a removal only takes from what the
    // items before it gave.
    EXPECT_EQ(CpuList::parse("^1,0-3").to_string(), "0-3");
    EXPECT_EQ(CpuList::parse("0-7,^2-5").cpus(), (std::vector<unsigned>{0, 1, 6, 7}));
    EXPECT_EQ(CpuList::parse("all"), CpuList::allowed());
}

TEST(CpuList, RefusesWhatXlRefusesWithTheItemNamed) {
    EXPECT_THAT(error_of(""), HasSubstr("empty"));
    EXPECT_THAT(error_of("0,x"), HasSubstr("'x' is not a CPU"));
    EXPECT_THAT(error_of("3-1"), HasSubstr("'3-1' is not a CPU"));
    EXPECT_THAT(error_of("1-"), HasSubstr("'1-' is not a CPU"));
    EXPECT_THAT(error_of("0,,1"), HasSubstr("'' is not a CPU"));
    EXPECT_THAT(error_of("^all"), HasSubstr("\"^\" and \"all\" do not combine"));
    EXPECT_THAT(error_of("0,^0"), HasSubstr("leaves no CPU"));
    EXPECT_THAT(error_of("99999"), HasSubstr("past the last a CPU set holds"));
}

TEST(CpuList, ACpuTheHostDoesNotRunOnIsNamed) {
    const CpuList host = CpuList::allowed();
    ASSERT_GT(host.count(), 0u);
    EXPECT_NO_THROW(host.check_within(host));
    const unsigned missing = host.cpus().back() + 1;
    try {
        CpuList::parse(std::to_string(missing)).check_within(host);
        ADD_FAILURE() << "CPU " << missing << " was taken";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()), "CPU " + std::to_string(missing) +
                                             " is not one this host runs on (it has " +
                                             host.to_string() + ")");
    }
}

TEST(CpuList, AChildSpawnedOnCpusStartsThereAndTheSpawningThreadKeepsItsOwn) {
    const CpuList host = CpuList::allowed();
    const CpuList last = CpuList::parse(std::to_string(host.cpus().back()));
    SpawnOptions options;
    options.cpus = last;
    ChildProcess child = ChildProcess::spawn(PVSIM_TEST_PEER, {"pause"}, options);
    EXPECT_EQ(test::cpus_allowed_list(child.pid()), last.to_string());
    EXPECT_EQ(CpuList::allowed(), host);
    child.kill(SIGKILL);
    (void)child.wait();

    ChildProcess unpinned = ChildProcess::spawn(PVSIM_TEST_PEER, {"pause"});
    EXPECT_EQ(test::cpus_allowed_list(unpinned.pid()), host.to_string());
    unpinned.kill(SIGKILL);
    (void)unpinned.wait();
}

}  // namespace cpu_list_test
}  // namespace pvsim::os
