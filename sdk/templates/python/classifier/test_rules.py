import pathlib
import unittest

import rules

SAMPLE = rules.parse_config((pathlib.Path(__file__).parent / "config.toml").read_bytes())


class RulesTest(unittest.TestCase):
    def test_the_sample_config_tags_a_refund_request(self):
        self.assertEqual(rules.tags_for(SAMPLE, "I want my MONEY BACK"), ["refund"])
        self.assertEqual(rules.tags_for(SAMPLE, "hello"), [])

    def test_a_malformed_config_is_an_error_that_says_so(self):
        with self.assertRaises(rules.ConfigError):
            rules.parse_config(b"rules = 3")


if __name__ == "__main__":
    unittest.main()
