// Environment key names: the documented prefix, and the exact fallback name of each server.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/env_key.hpp"

using namespace aispend::core;

TEST(EnvKey, OnlyTheDocumentedPrefix) {
    EXPECT_TRUE(is_env_key_name("AISPEND_ADMIN_KEY_ACME"));
    EXPECT_TRUE(is_env_key_name("AISPEND_ADMIN_KEY_acme_openai_2"));
    for (const char *name :
         {"SECRET_ENV_TOKEN", "HOME", "PATH", "AISPEND_ADMIN_KEY_", "aispend_admin_key_acme",
          "AISPEND_ADMIN_KEY_a-b", "AISPEND_ADMIN_KEY_a b", "X_AISPEND_ADMIN_KEY_A", ""}) {
        EXPECT_FALSE(is_env_key_name(name)) << name;
    }
}

TEST(EnvKey, FallbackMapsTheServerNameExactly) {
    EXPECT_EQ(fallback_key_env("envacct"), "AISPEND_ADMIN_KEY_envacct");
    EXPECT_EQ(fallback_key_env("EnvAcct"), "AISPEND_ADMIN_KEY_EnvAcct");
    EXPECT_EQ(fallback_key_env("acme_openai"), "AISPEND_ADMIN_KEY_acme_openai");
    EXPECT_EQ(fallback_key_env("acme-openai"), "AISPEND_ADMIN_KEY_acme_x2D_openai");
    EXPECT_EQ(fallback_key_env("a b.c"), "AISPEND_ADMIN_KEY_a_x20_b_x2E_c");
    EXPECT_EQ(fallback_key_env("caf\xC3\xA9"), "AISPEND_ADMIN_KEY_caf_xC3__xA9_");
    // a literal "_xHH_" in the name is escaped, so it cannot pose as an escaped character
    EXPECT_EQ(fallback_key_env("a_x2D_b"), "AISPEND_ADMIN_KEY_a_x5F_x2D_b");
    EXPECT_TRUE(is_env_key_name(fallback_key_env("caf\xC3\xA9 -x")));
}

TEST(EnvKey, DifferentServersNeverShareAVariable) {
    const char *names[] = {
        "envacct",     "EnvAcct", "ENVACCT", "acme-openai", "acme_openai", "acme_x2D_openai",
        "acme.openai", "a_x2D_b", "a-b",     "a_x2d_b",     "_x41_",       "A",
        "_",           "__",      "_x",      "_x4",         "_x41",        "a b",
        "a_x20_b"};
    std::set<std::string> variables;
    for (const char *name : names) variables.insert(fallback_key_env(name));
    EXPECT_EQ(variables.size(), sizeof names / sizeof names[0]);
}
