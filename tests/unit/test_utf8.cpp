// UTF-8 hygiene: invalid sequences replaced, cuts between characters.
#include <gtest/gtest.h>

#include <string>

#include "core/utf8.hpp"

using namespace aispend::core;

namespace {
const std::string kFffd = "\xEF\xBF\xBD";
}

TEST(Utf8, KeepsValidText) {
    for (const std::string &text :
         {std::string(""), std::string("plain"), std::string("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\xA8"),
          std::string("\xF4\x8F\xBF\xBF")}) {
        EXPECT_EQ(valid_utf8(text), text);
    }
}

TEST(Utf8, ReplacesEachInvalidRunOnce) {
    EXPECT_EQ(valid_utf8("caf\xE9!"), "caf" + kFffd + "!");  // Latin-1 byte
    EXPECT_EQ(valid_utf8("a\xFF\xFE"
                         "b"),
              "a" + kFffd + "b");                                           // one run, one replacement
    EXPECT_EQ(valid_utf8("\x80x"), kFffd + "x");                            // stray continuation
    EXPECT_EQ(valid_utf8("x\xE2\x82"), "x" + kFffd);                        // truncated at the end
    EXPECT_EQ(valid_utf8("\xC0\xAF"), kFffd);                               // overlong "/"
    EXPECT_EQ(valid_utf8("\xE0\x80\xAF"), kFffd);                           // overlong, 3 bytes
    EXPECT_EQ(valid_utf8("\xED\xA0\x80"), kFffd);                           // surrogate U+D800
    EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), kFffd);                       // above U+10FFFF
    EXPECT_EQ(valid_utf8(std::string("a\0b", 3)), std::string("a\0b", 3));  // NUL is valid UTF-8
}

TEST(Utf8, TruncatesByCharacters) {
    const std::string euros = "\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC";  // three 3-byte characters
    EXPECT_EQ(truncate_chars(euros, 3), euros);
    EXPECT_EQ(truncate_chars(euros, 2), "\xE2\x82\xAC\xE2\x82\xAC...");
    EXPECT_EQ(truncate_chars(euros, 0), "...");
    EXPECT_EQ(truncate_chars("abc", 5), "abc");
    EXPECT_EQ(clip_text("\xE9\xE9\xE9 abc", 3), kFffd + " a...");
}

TEST(Utf8, CutsAFixedBufferBetweenCharacters) {
    const std::string text =
        "ab\xE2\x82\xAC"
        "c";  // a b € c
    EXPECT_EQ(utf8_cut(text.data(), text.size(), 10), text.size());
    EXPECT_EQ(utf8_cut(text.data(), text.size(), 5), 5u);
    EXPECT_EQ(utf8_cut(text.data(), text.size(), 4), 2u);
    EXPECT_EQ(utf8_cut(text.data(), text.size(), 3), 2u);
    EXPECT_EQ(utf8_cut(text.data(), text.size(), 2), 2u);
}
