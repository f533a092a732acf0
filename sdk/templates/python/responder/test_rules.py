import pathlib
import unittest

import rules

SAMPLE = rules.parse_config((pathlib.Path(__file__).parent / "config.toml").read_bytes())


class RulesTest(unittest.TestCase):
    def test_the_sample_config_answers_a_refund_request(self):
        actions = rules.actions_for(SAMPLE, "I want my MONEY BACK")
        self.assertEqual(actions[0], ("tag", "refund"))
        self.assertEqual(actions[1][0], "reply")
        self.assertEqual(rules.actions_for(SAMPLE, "hello"), [])

    def test_a_malformed_config_is_an_error_that_says_so(self):
        with self.assertRaises(rules.ConfigError):
            rules.parse_config(b"rules = 3")


if __name__ == "__main__":
    unittest.main()
