// One error style for every command (tools/cli/usage_error.hpp): each
// message starts "pvsim <command>:", usage errors exit 2 with the nearest
// command, option or DISKSPEC key suggested and NAME/VDEV swaps pointed
// out, failures exit 1 without a doubled prefix, and block-attach --help
// lists every DISKSPEC key.
#include <gtest/gtest.h>

#include <string>

#include "tests/integration/cli/cli_run.hpp"

namespace pvsim::test {
namespace error_style_test {

class CliErrorStyleTest : public ::testing::Test {
  protected:
    // Exit status `code`, and stderr starting with `start` and holding
    // `also`.
    void expect(const std::vector<std::string>& args, int code, const std::string& start,
                const std::string& also) {
        const CliResult result = run_.pvsim(args);
        EXPECT_EQ(result.code, code) << result.err;
        EXPECT_TRUE(result.err.starts_with(start)) << result.err;
        EXPECT_NE(result.err.find(also), std::string::npos) << result.err;
    }

    CliRun run_;
};

TEST_F(CliErrorStyleTest, UsageErrorsNameTheCommandSuggestTheNearestWordAndExit2) {
    expect({"block-atach", "web", "x"}, 2, "pvsim: unknown command \"block-atach\"",
           "(did you mean block-attach?)");
    expect({"list", "--jsn"}, 2, "pvsim list: ", "--jsn (did you mean --json?)");
    expect({"create"}, 2, "pvsim create: NAME is required", "(pvsim create --help)");
    expect({"block-attach", "web", "target=/x,vdev=xvda,acess=ro"}, 2,
           "pvsim block-attach: DISKSPEC: unknown key \"acess\"", "(did you mean access?)");
    expect({"block-attach", "web", "target=/x,vdev=xvda,frontend-persistnt=on"}, 2,
           "pvsim block-attach: DISKSPEC: unknown key", "(did you mean frontend-persistent?)");
}

TEST_F(CliErrorStyleTest, ANameGivenAfterItsDiskGetsTheOrderBack) {
    expect({"io", "xvda", "web"}, 2,
           "pvsim io: VDEV:", "the guest's NAME comes first: pvsim io web xvda");
    expect({"block-attach", "target=/x.img,vdev=xvda", "web"}, 2, "pvsim block-attach: ",
           "the guest's NAME comes first: pvsim block-attach web target=/x.img,vdev=xvda");
}

TEST_F(CliErrorStyleTest, FailuresNameTheCommandOnceAndExit1) {
    ASSERT_EQ(run_.pvsim({"up"}).code, 0);
    expect({"destroy", "nosuch"}, 1, "pvsim destroy: no domain called \"nosuch\"", "");
    const CliResult dom0 = run_.pvsim({"block-attach", "Domain-0", "target=/x.img,vdev=xvda"});
    EXPECT_EQ(dom0.code, 1);
    EXPECT_EQ(dom0.err, "pvsim block-attach: dom0 runs the backends; attach to a guest\n");
}

TEST_F(CliErrorStyleTest, BlockAttachHelpListsEveryDiskspecKey) {
    const CliResult help = run_.pvsim({"block-attach", "--help"});
    ASSERT_EQ(help.code, 0) << help.err;
    // xl-disk-configuration's keys, and pvsim's own.
    for (const char* key :
         {"target=",          "vdev=",       "access=",      "format=",
          "devtype=",         "backend=",    "backendtype=", "direct-io-safe",
          "specification=",   "vhost-user=", "direct=",      "poll-us=",
          "protocol=",        "trusted",     "persistent=",  "max-indirect-segments=",
          "ring-page-order=", "queues=",     "discard=",     "flush=",
          "barrier=",         "grant-mode=", "reconnect="}) {
        EXPECT_NE(help.out.find(key), std::string::npos) << key << "\n" << help.out;
    }
}

}  // namespace error_style_test
}  // namespace pvsim::test
