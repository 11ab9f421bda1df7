#include "tools/cli/script.hpp"

#include <stdlib.h>

#include <cctype>
#include <fstream>
#include <ostream>
#include <string_view>

#include "common/units.hpp"
#include "tools/cli/background_jobs.hpp"
#include "tools/cli/command.hpp"
#include "tools/cli/interruption.hpp"
#include "tools/cli/state_monitor.hpp"
#include "tools/cli/temporary_run.hpp"

namespace pvsim::tools::cli {
namespace {

// The variable at line[i] == '$' appended to `out`; returns the index of
// its last character. As in the shell, a '$' not followed by a name stays.
std::size_t expand_variable(const std::string& line, std::size_t i, std::string& out) {
    std::string name;
    std::size_t last = i;
    if (i + 1 < line.size() && line[i + 1] == '{') {
        last = line.find('}', i + 2);
        if (last == std::string::npos) {
            throw ParseError("unclosed ${ in \"" + line + "\"");
        }
        name = line.substr(i + 2, last - i - 2);
    } else {
        std::size_t end = i + 1;
        while (end < line.size() &&
               (std::isalnum(static_cast<unsigned char>(line[end])) != 0 || line[end] == '_')) {
            ++end;
        }
        if (end == i + 1) {
            out += '$';
            return i;
        }
        name = line.substr(i + 1, end - i - 1);
        last = end - 1;
    }
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (value == nullptr) {
        throw ParseError("$" + name + ": no such variable");
    }
    out += value;
    return last;
}

// Written by hand: the quoting is the small subset of the shell's that a
// script line needs ('...', "...", backslash, $VARIABLES outside single
// quotes, # comments), and an unclosed quote must be an error, which
// boost::escaped_list_separator does not report.
std::vector<std::string> split(const std::string& line, bool expand) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    char quote = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (expand && c == '$' && quote != '\'') {
            i = expand_variable(line, i, word);
            in_word = true;
        } else if (quote != 0) {
            if (c == quote) {
                quote = 0;
            } else if (c == '\\' && quote == '"' && i + 1 < line.size() &&
                       std::string_view("\"\\$`").find(line[i + 1]) != std::string_view::npos) {
                // POSIX 2.2.3: inside double quotes a backslash escapes only
                // these; before anything else it is itself.
                word += line[++i];
            } else {
                word += c;
            }
        } else if (c == '#' && !in_word) {
            // POSIX 2.3 rule 10: a # that would start a word starts a
            // comment, to the end of the line.
            break;
        } else if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else if (c == '\\' && i + 1 < line.size()) {
            word += line[++i];
            in_word = true;
        } else if (c == ' ' || c == '\t') {
            if (in_word) {
                words.push_back(std::move(word));
                word.clear();
                in_word = false;
            }
        } else {
            word += c;
            in_word = true;
        }
    }
    if (quote != 0) {
        throw ParseError(std::string("unclosed ") + quote + " quote");
    }
    if (in_word) {
        words.push_back(std::move(word));
    }
    return words;
}

}  // namespace

std::string expand_variables(const std::string& line) {
    std::string out;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '$') {
            out += '$';
            ++i;
        } else if (line[i] == '$') {
            i = expand_variable(line, i, out);
        } else {
            out += line[i];
        }
    }
    return out;
}

std::vector<std::string> split_words(const std::string& line) {
    return split(line, false);
}

std::vector<std::string> split_script_line(const std::string& line) {
    return split(line, true);
}

std::vector<ScriptLine> parse_script(std::istream& in) {
    std::vector<ScriptLine> lines;
    std::size_t number = 0;
    for (std::string text; std::getline(in, text);) {
        ++number;
        const auto first = text.find_first_not_of(" \t\r");
        if (first == std::string::npos || text[first] == '#') {
            continue;
        }
        if (text.back() == '\r') {
            text.pop_back();
        }
        try {
            const auto words = split_script_line(text);
            if (words.empty()) {
                continue;
            }
            if (words.front() == "script" || words.front() == "demo") {
                throw ParseError("`" + words.front() + "` cannot run inside a script");
            }
            lines.push_back({number, parse_command(words, Context::script)});
        } catch (const CLI::ParseError& e) {
            throw ScriptParseError(number, e.what());
        } catch (const std::invalid_argument& e) {
            throw ScriptParseError(number, e.what());
        }
    }
    return lines;
}

int run_script(const std::filesystem::path& file, const ScriptOptions& options, std::ostream& out,
               std::ostream& err) {
    std::ifstream in(file);
    if (!in) {
        err << "pvsim script: cannot read " << file.string() << "\n";
        return 1;
    }
    std::optional<TemporaryRun> temporary;
    std::optional<RunDir> run;
    if (options.run_dir) {
        run = RunDir::open(*options.run_dir);
    } else {
        temporary.emplace("script");
        run = temporary->run();
    }
    // Lines may name the run's directory as ${PVSIM_RUN_DIR}.
    ::setenv("PVSIM_RUN_DIR", run->path().c_str(), 1);
    // Every line parsed before anything runs.
    std::vector<ScriptLine> lines;
    try {
        lines = parse_script(in);
    } catch (const ScriptParseError& e) {
        err << file.string() << ":" << e.line() << ": " << e.what() << "\n";
        return 2;
    }

    // Ctrl-C or SIGTERM: the line running is cut short (an io cancelled
    // with its results so far, a sleep ended), no further line runs, and
    // what the script started is torn down.
    Interruption stop;
    Session session(*run, out, options.up);
    session.set_interruption(&stop);
    int status = 0;
    // Only what this script started is torn down: a run that was up already
    // (another user's, or a live one named with --run-dir) is refused and
    // left as it was, and start_run takes down what it half started.
    bool started = false;
    try {
        session.print("run directory " + run->path().string() + "\n");
        toolstack::start_run(*run, session.programs(), options.up);
        started = true;
        StateMonitor monitor(session);
        for (const ScriptLine& line : lines) {
            if (stop.requested()) {
                break;
            }
            session.print(monitor.timestamp() + "> " + line.command.text + "\n");
            try {
                line.command.run(session);
            } catch (const std::exception& e) {
                err << file.string() << ":" << line.number << ": " << line.command.text << ": "
                    << e.what() << "\n";
                status = stop.requested() ? status : 1;
                break;
            }
            // The line's states are all printed before the next line is.
            monitor.settle();
        }
        if (status == 0 && !stop.requested()) {
            try {
                session.background().wait();
            } catch (const std::exception& e) {
                err << file.string() << ": at the end: " << e.what() << "\n";
                status = 1;
            }
        }
    } catch (const std::exception& e) {
        err << file.string() << ": " << e.what() << "\n";
        status = 1;
    }
    session.disconnect();
    if (stop.requested()) {
        err << file.string() << ": interrupted by " << stop.signal_name()
            << (started ? ": tearing down the run it started\n" : "\n");
        status = stop.exit_status();
    }
    if (!started) {
        return status;
    }
    // Teardown either way; background commands still running end with it.
    const toolstack::RunInventory left = toolstack::stop_run(*run);
    try {
        session.background().wait();
    } catch (const std::exception&) {
        // The script failed already, or they failed because the run went.
    }
    if (!left.processes.empty() || !left.shared_memory.empty()) {
        err << file.string() << ": teardown removed by force: " << left.describe() << "\n";
        status = status == 0 ? 1 : status;
    }
    if (status != 0 && temporary && !stop.requested()) {
        temporary->keep();
        err << "logs kept in " << run->path().string() << "\n";
    }
    return status;
}

}  // namespace pvsim::tools::cli
