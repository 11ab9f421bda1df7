// Parsing pvsim commands and script verbs (tools/cli/command.hpp): what
// each context accepts, and that bad values are refused while parsing,
// before anything runs. Nothing here runs a command (that needs a live run;
// tests/integration/cli does it).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/units.hpp"
#include "tools/cli/command.hpp"

namespace pvsim::tools::cli {
namespace {

using Words = std::vector<std::string>;

const std::vector<Words> kCommands = {
    {"up"},
    {"down"},
    {"env"},
    {"create", "g"},
    {"create", "g", "--memory", "128M"},
    {"destroy", "g"},
    {"list"},
    {"list", "--json"},
    {"block-attach", "g", "target=/images/a.img,vdev=xvda,access=ro"},
    {"block-attach", "g", "/images/a.img,,xvdb"},
    {"block-detach", "g", "xvda"},
    {"block-detach", "g", "xvda", "--force"},
    {"block-list", "g"},
    {"block-list", "g", "--json"},
    {"io", "g", "xvda"},
    {"io",        "g",         "xvda",     "--rw",        "randrw",   "--bs",      "64k",
     "--iodepth", "8",         "--size",   "16M",         "--offset", "1M",        "--runtime",
     "500ms",     "--io_size", "4M",       "--rwmixread", "70",       "--numjobs", "2",
     "--seed",    "42",        "--verify", "crc32c",      "--json",   "--name",    "mixed"},
    {"io", "g", "xvda", "--readwrite", "readwrite", "--blocksize", "4k", "--randseed", "1"},
};

const std::vector<Words> kScriptVerbs = {
    {"wait-state", "g", "xvda", "frontend", "Connected"},
    {"wait-state", "g", "xvda", "backend", "4", "--timeout", "500ms"},
    {"set-state", "g", "xvda", "backend", "Closing"},
    {"xenstore-read", "/local/domain/0/name"},
    {"xenstore-read", "/local/domain/0/name", "Domain-0"},
    {"xenstore-write", "/local/domain/1/data/x", "1"},
    {"xenstore-rm", "/local/domain/1/data/x"},
    {"kill", "g"},
    {"kill", "dom0", "--signal", "STOP"},
    {"kill", "xenstored", "--signal", "SIGTERM"},
    {"kill", "g", "--signal", "9"},
    {"restart", "dom0"},
    {"sleep", "500ms"},
    {"sleep", "1"},
    {"expect-fail", "block-detach", "g", "xvdz"},
    {"expect-fail", "io", "g", "xvda", "--bs", "4k", "--json"},
    {"background", "io", "g", "xvda", "--runtime", "2s"},
    {"background", "wait-state", "g", "xvda", "frontend", "Closed"},
    {"wait"},
    {"make-image", "/images/a.img", "16M"},
    {"unplug", "g", "xvda"},
};

std::string joined(const Words& words) {
    std::string text;
    for (const auto& word : words) {
        text += (text.empty() ? "" : " ") + word;
    }
    return text;
}

TEST(ParseCommand, CommandsParseInBothContexts) {
    for (const Context context : {Context::command_line, Context::script}) {
        for (const Words& words : kCommands) {
            try {
                const Command command = parse_command(words, context);
                EXPECT_EQ(command.text, joined(words));
                EXPECT_TRUE(static_cast<bool>(command.run)) << command.text;
            } catch (const std::exception& e) {
                ADD_FAILURE() << joined(words) << ": " << e.what();
            }
        }
    }
}

TEST(ParseCommand, ScriptVerbsParseInAScript) {
    for (const Words& words : kScriptVerbs) {
        try {
            const Command command = parse_command(words, Context::script);
            EXPECT_EQ(command.text, joined(words));
            EXPECT_TRUE(static_cast<bool>(command.run)) << command.text;
        } catch (const std::exception& e) {
            ADD_FAILURE() << joined(words) << ": " << e.what();
        }
    }
}

TEST(ParseCommand, ScriptVerbsAreUnknownOnTheCommandLine) {
    for (const Words& words : kScriptVerbs) {
        try {
            (void)parse_command(words, Context::command_line);
            ADD_FAILURE() << "accepted " << joined(words);
        } catch (const ParseError& e) {
            EXPECT_EQ(std::string(e.what()), "unknown command \"" + words.front() + "\"");
        }
    }
}

TEST(ParseCommand, UnknownVerb) {
    for (const Context context : {Context::command_line, Context::script}) {
        EXPECT_THROW((void)parse_command({"frobnicate", "g"}, context), ParseError);
        EXPECT_THROW((void)parse_command({}, context), ParseError);
    }
    try {
        (void)parse_command({"frobnicate", "g"}, Context::script);
        ADD_FAILURE() << "accepted";
    } catch (const ParseError& e) {
        EXPECT_EQ(std::string(e.what()), "unknown verb \"frobnicate\"");
    }
    // Nested commands are script lines too.
    try {
        (void)parse_command({"expect-fail", "frobnicate"}, Context::script);
        ADD_FAILURE() << "accepted";
    } catch (const ParseError& e) {
        EXPECT_EQ(std::string(e.what()), "unknown verb \"frobnicate\"");
    }
}

TEST(ParseCommand, BadValuesAreRefusedWhileParsing) {
    const std::vector<Words> bad = {
        {"create", "g", "--memory", "12Q"},
        {"create"},
        {"create", "g", "--colour", "red"},
        {"destroy"},
        {"list", "one", "two"},
        {"block-attach", "g", "foo=1"},
        {"block-attach", "g", "target=/a.img"},
        {"block-attach", "g"},
        {"block-detach", "g", "vda1"},
        {"io", "g", "xvda", "--bs", "4q"},
        {"io", "g", "xvda", "--rw", "sideways"},
        {"io", "g", "xvda", "--iodepth", "0"},
        {"io", "g", "xvda", "--iodepth", "1025"},
        {"io", "g", "xvda", "--rwmixread", "101"},
        {"io", "g", "xvda", "--numjobs", "65"},
        {"io", "g", "xvda", "--runtime", "soon"},
        {"io", "g", "xvda", "--verify", "md5"},
        {"io", "g", "nodisk"},
    };
    for (const Context context : {Context::command_line, Context::script}) {
        for (const Words& words : bad) {
            EXPECT_THROW((void)parse_command(words, context), CLI::ParseError) << joined(words);
        }
    }
}

TEST(ParseCommand, ABadDiskSpecIsRefusedNamingDiskSpecOnce) {
    const std::vector<std::pair<Words, std::string>> bad = {
        {{"block-attach", "g", "foo=1"}, "DISKSPEC: unknown key \"foo\"; accepted: "},
        {{"block-attach", "g", "target=/a.img"}, "DISKSPEC: no vdev (vdev=xvda)"},
        {{"block-attach", "g", "target=/a.img,vdev=xvda,queues=99"},
         "DISKSPEC: queues=99: expected a whole number from 1 to "},
    };
    for (const Context context : {Context::command_line, Context::script}) {
        for (const auto& [words, start] : bad) {
            try {
                (void)parse_command(words, context);
                ADD_FAILURE() << "accepted " << joined(words);
            } catch (const CLI::ParseError& e) {
                const std::string message = e.what();
                EXPECT_TRUE(message.starts_with(start)) << message;
                EXPECT_EQ(message.find("DISKSPEC", 1), std::string::npos) << message;
            }
        }
    }
}

TEST(ParseCommand, BadScriptVerbValuesAreRefusedWhileParsing) {
    const std::vector<Words> bad = {
        {"wait-state", "g", "xvda", "frontend", "Bogus"},
        {"wait-state", "g", "xvda", "middle", "Connected"},
        {"wait-state", "g", "xvdA", "frontend", "Connected"},
        {"wait-state", "g", "xvda", "frontend", "Connected", "--timeout", "later"},
        {"set-state", "g", "xvda", "backend", "9"},
        {"xenstore-read"},
        {"xenstore-read", "/a", "b", "c"},
        {"kill", "g", "--signal", "NOPE"},
        {"kill", "g", "--signal", "0"},
        {"restart", "xenstored"},
        {"sleep", "a while"},
        {"make-image", "/images/a.img", "16Q"},
        {"unplug", "g", "disk0"},
        {"expect-fail"},
        {"expect-fail", "io", "g", "xvda", "--bs", "4q"},
        {"background", "create", "g", "--memory", "lots"},
        {"expect-fail", "expect-fail", "wait-state", "g", "xvda", "frontend", "Bogus"},
    };
    for (const Words& words : bad) {
        EXPECT_THROW((void)parse_command(words, Context::script), CLI::ParseError) << joined(words);
    }
}

TEST(ParseCommand, TextIsTheWordsJoined) {
    EXPECT_EQ(parse_command({"io", "g", "xvda", "--bs", "64k"}, Context::command_line).text,
              "io g xvda --bs 64k");
    EXPECT_EQ(parse_command({"expect-fail", "block-detach", "g", "xvdb"}, Context::script).text,
              "expect-fail block-detach g xvdb");
    EXPECT_EQ(parse_command({"xenstore-write", "/a", "two words"}, Context::script).text,
              "xenstore-write /a two words");
}

// A line's parser holds only the subcommand its first word names
// (CommandFilter), so a value that is another command's name is a value.
TEST(ParseCommand, AValueThatNamesAnotherCommandIsAValue) {
    for (const Words& words : std::vector<Words>{{"create", "list"},
                                                 {"destroy", "io"},
                                                 {"xenstore-write", "/a", "wait"},
                                                 {"kill", "down"},
                                                 {"expect-fail", "block-detach", "up", "xvda"}}) {
        EXPECT_EQ(parse_command(words, Context::script).text, joined(words));
    }
}

TEST(CommandFilter, AllWantsEveryNameAndOnlyWantsOne) {
    EXPECT_TRUE(CommandFilter::all().wants("io"));
    EXPECT_TRUE(CommandFilter::all().wants("block-attach"));
    EXPECT_TRUE(CommandFilter::only("io").wants("io"));
    EXPECT_FALSE(CommandFilter::only("io").wants("block-attach"));
    EXPECT_FALSE(CommandFilter::only("").wants("io"));
}

}  // namespace
}  // namespace pvsim::tools::cli
