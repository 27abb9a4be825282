"""Packaging checks: META.json follows the PGXN v1 spec and every place that states the version agrees."""
import json
import pathlib
import re
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2",
            "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1",
            "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source",
            "restricted", "unrestricted", "unknown"}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}


def control_version():
    text = (ROOT / "aispend.control").read_text()
    return re.search(r"^default_version\s*=\s*'([^']+)'", text, re.M).group(1)


class MetaJsonTest(unittest.TestCase):
    def setUp(self):
        self.meta = json.loads((ROOT / "META.json").read_text())

    def test_required_fields(self):
        for field in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
            self.assertIn(field, self.meta)
        self.assertEqual(self.meta["meta-spec"]["version"], "1.0.0")

    def test_versions_are_semver_and_agree_with_the_control_file(self):
        self.assertRegex(self.meta["version"], SEMVER)
        self.assertEqual(self.meta["version"], control_version())
        for name, extension in self.meta["provides"].items():
            self.assertEqual(extension["version"], control_version(), name)
            self.assertTrue((ROOT / extension["file"]).exists(), extension["file"])

    def test_license_is_known(self):
        self.assertIn(self.meta["license"], LICENSES)

    def test_prereqs_use_known_phases_and_relations(self):
        for phase, relations in self.meta.get("prereqs", {}).items():
            self.assertIn(phase, PHASES)
            for relation, modules in relations.items():
                self.assertIn(relation, RELATIONS)
                for version in modules.values():
                    self.assertRegex(version, SEMVER)

    def test_release_status(self):
        self.assertIn(self.meta.get("release_status", "stable"), {"stable", "testing", "unstable"})


class ChangelogTest(unittest.TestCase):
    def test_changelog_names_the_current_version(self):
        self.assertIn("## " + control_version(), (ROOT / "CHANGELOG.md").read_text())


if __name__ == "__main__":
    unittest.main()
