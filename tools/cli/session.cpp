#include "tools/cli/session.hpp"

#include <ostream>
#include <system_error>

#include "tools/cli/background_jobs.hpp"

namespace pvsim::tools::cli {

Session::Session(RunDir run, std::ostream& out, toolstack::UpOptions up_options)
    : run_(std::move(run)),
      out_(out),
      out_mutex_(std::make_shared<std::mutex>()),
      up_options_(std::move(up_options)),
      background_(std::make_shared<BackgroundJobs>()) {}

const toolstack::Programs& Session::programs() {
    if (!programs_) {
        programs_ = toolstack::Programs::locate(os::Environment::process());
    }
    return *programs_;
}

hypervisor::ControlClient& Session::control() {
    if (!control_) {
        try {
            control_.emplace(run_.hypervisor_socket());
        } catch (const std::system_error&) {
            throw CommandError("pvsim is not up in " + run_.path().string() + " (run `pvsim up`)");
        }
    }
    return *control_;
}

xenstore::client::Client& Session::xenstore() {
    if (!xenstore_) {
        (void)control();  // a run that is not up says so first
        try {
            xenstore_.emplace(xenstore::client::Client::connect(run_));
        } catch (const std::system_error& e) {
            throw CommandError("pvsim-xenstored does not answer in " + run_.path().string() + ": " +
                               e.what());
        }
    }
    return *xenstore_;
}

void Session::disconnect() {
    control_.reset();
    xenstore_.reset();
}

std::unique_ptr<Session> Session::fork() const {
    auto session = std::make_unique<Session>(run_, out_, up_options_);
    session->out_mutex_ = out_mutex_;
    session->programs_ = programs_;
    session->background_ = background_;
    session->interruption_ = interruption_;
    return session;
}

void Session::print(const std::string& text) const {
    std::lock_guard lock(*out_mutex_);
    out_ << text << std::flush;
}

}  // namespace pvsim::tools::cli
