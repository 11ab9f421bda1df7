// pvsim io's live progress line (tools/cli/progress_line.cpp): on a
// terminal, one line rewritten in place with a carriage return while the
// job runs, cleared before the result table; in a file, none at all. The
// terminal is a real pseudo-terminal, so isatty(3) in pvsim answers as it
// would for a user.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "common/os/child_process.hpp"
#include "common/os/unique_fd.hpp"
#include "tests/integration/cli/cli_run.hpp"
#include "tests/support/eventually.hpp"

namespace pvsim::test {
namespace progress_line_test {

// Runs PVSIM_CLI with `args`, its stdout the slave side of a new
// pseudo-terminal (output processing off, so what is read from the master
// is what pvsim wrote), its stderr a file; returns what the master read
// until the process exited and the terminal was drained.
CliResult run_on_terminal(const std::filesystem::path& scratch,
                          const std::vector<std::string>& args) {
    os::UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0) {
        throw std::system_error(errno, std::system_category(), "posix_openpt");
    }
    const char* slave_name = ::ptsname(master.get());
    if (slave_name == nullptr) {
        throw std::system_error(errno, std::system_category(), "ptsname");
    }
    os::UniqueFd slave(::open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) {
        throw std::system_error(errno, std::system_category(), slave_name);
    }
    termios mode{};
    if (::tcgetattr(slave.get(), &mode) != 0) {
        throw std::system_error(errno, std::system_category(), "tcgetattr");
    }
    mode.c_oflag &= ~static_cast<tcflag_t>(OPOST);  // no \n -> \r\n
    if (::tcsetattr(slave.get(), TCSANOW, &mode) != 0) {
        throw std::system_error(errno, std::system_category(), "tcsetattr");
    }
    const auto err_path = scratch / "terminal.err";
    os::UniqueFd err(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    os::SpawnOptions options;
    options.fds = {{slave.get(), 1}, {err.get(), 2}};
    os::ChildProcess process = os::ChildProcess::spawn(PVSIM_CLI, args, options);
    slave.reset();  // the child's is then the only one: its exit hangs up

    // Read until the master reports the hang-up (EIO once every slave fd
    // is closed and the data read), the child reaped along the way.
    std::string out;
    std::optional<os::ExitStatus> status;
    const bool drained = eventually(
        [&] {
            if (!status) {
                status = process.try_wait();
            }
            pollfd ready{master.get(), POLLIN, 0};
            if (::poll(&ready, 1, 100) <= 0) {
                return false;
            }
            char buffer[4096];
            const ssize_t got = ::read(master.get(), buffer, sizeof buffer);
            if (got > 0) {
                out.append(buffer, static_cast<std::size_t>(got));
                return false;
            }
            return got == 0 || errno == EIO;
        },
        std::chrono::seconds(100));
    if (!drained) {
        throw std::runtime_error("pvsim did not exit and hang up its terminal within the limit");
    }
    if (!status && !eventually([&] { return (status = process.try_wait()).has_value(); },
                               std::chrono::seconds(20))) {
        throw std::runtime_error("pvsim hung up its terminal but did not exit");
    }
    return {status->exited() ? status->code : -1, out, read_file(err_path)};
}

class CliProgressLineTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_EQ(run_.pvsim({"up"}).code, 0);
        ASSERT_EQ(run_.pvsim({"create", "g"}).code, 0);
        const auto image = run_.image("disk.img", 8 << 20);
        ASSERT_EQ(run_.pvsim({"block-attach", "g", "target=" + image.string() + ",vdev=xvda"}).code,
                  0);
    }

    // A job that runs for 2 s whatever the speed: several of the guest's
    // progress reports (one each 500 ms) come while it runs.
    std::vector<std::string> job() const {
        return {"--run-dir", run_.dir().string(), "io",   "g",  "xvda",
                "--rw",      "randread",          "--bs", "4k", "--runtime",
                "2",         "--time_based"};
    }

    CliRun run_;
};

TEST_F(CliProgressLineTest, OnATerminalALineIsRewrittenInPlaceThenClearedBeforeTheTable) {
    const CliResult run = run_on_terminal(run_.scratch(), job());
    ASSERT_EQ(run.code, 0) << run.err << run.out;
    // progress_line.cpp: "\r" + the text (padded over a longer one before);
    // io_command.cpp's text: "g xvda randread: 1.5s elapsed, 1234 I/Os,
    // 2.3k IOPS now".
    const std::regex progress(
        "\rg xvda randread: [0-9]+\\.[0-9]s elapsed, [0-9]+ I/Os, "
        "[^ ,\r\n]+ IOPS now *");
    const auto lines = std::distance(std::sregex_iterator(run.out.begin(), run.out.end(), progress),
                                     std::sregex_iterator());
    EXPECT_GE(lines, 1) << run.out;
    // Cleared ("\r", spaces over the line, "\r"), then the table, with no
    // progress after it.
    const auto last = run.out.rfind('\r');
    ASSERT_NE(last, std::string::npos) << run.out;
    const auto before = run.out.rfind('\r', last - 1);
    ASSERT_NE(before, std::string::npos) << run.out;
    EXPECT_EQ(run.out.find_first_not_of(' ', before + 1), last) << run.out;
    const std::string table = run.out.substr(last + 1);
    EXPECT_NE(table.find("IOPS"), std::string::npos) << run.out;
    EXPECT_NE(table.find("p99.9"), std::string::npos) << run.out;
    EXPECT_EQ(table.find("IOPS now"), std::string::npos) << run.out;
}

TEST_F(CliProgressLineTest, InAFileTheSameJobWritesNoCarriageReturn) {
    const CliResult run = run_cli(run_.scratch(), job());
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_NE(run.out.find("p99.9"), std::string::npos) << run.out;
    EXPECT_EQ(run.out.find('\r'), std::string::npos) << run.out;
}

}  // namespace progress_line_test
}  // namespace pvsim::test
