// The lines this process logs through spdlog while a LogCapture lives: for
// a test that runs a daemon's code in its own process (the vhost-user-blk
// device) and checks what it said about a peer. The default logger is
// replaced by one writing to the old sinks and to a list the test reads;
// create the capture before starting what logs and destroy what logs before
// the capture (replacing the default logger is not safe while another
// thread logs).
#pragma once

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace pvsim::test {

class LogCapture {
  public:
    LogCapture() : previous_(spdlog::default_logger()), sink_(std::make_shared<Sink>()) {
        std::vector<spdlog::sink_ptr> sinks = previous_->sinks();
        sinks.push_back(sink_);
        auto logger = std::make_shared<spdlog::logger>("capture", sinks.begin(), sinks.end());
        logger->set_level(std::min(previous_->level(), spdlog::level::warn));
        spdlog::set_default_logger(std::move(logger));
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    // The lines logged so far at warning or above that contain every one of
    // `parts`.
    std::vector<std::string> warnings_with(std::initializer_list<std::string_view> parts) const {
        return sink_->matching(parts);
    }

  private:
    class Sink : public spdlog::sinks::base_sink<std::mutex> {
      public:
        std::vector<std::string> matching(std::initializer_list<std::string_view> parts) {
            std::lock_guard lock(mutex_);
            std::vector<std::string> out;
            for (const std::string& line : lines_) {
                bool all = true;
                for (const std::string_view part : parts) {
                    all = all && line.find(part) != std::string::npos;
                }
                if (all) {
                    out.push_back(line);
                }
            }
            return out;
        }

      protected:
        void sink_it_(const spdlog::details::log_msg& msg) override {
            if (msg.level >= spdlog::level::warn) {
                lines_.emplace_back(msg.payload.data(), msg.payload.size());
            }
        }
        void flush_() override {}

      private:
        std::vector<std::string> lines_;  // under base_sink's mutex_
    };

    std::shared_ptr<spdlog::logger> previous_;
    std::shared_ptr<Sink> sink_;
};

}  // namespace pvsim::test
