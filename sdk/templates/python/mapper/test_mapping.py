import pathlib
import unittest

import mapping

SAMPLE = mapping.parse_config((pathlib.Path(__file__).parent / "config.toml").read_bytes())


class MappingTest(unittest.TestCase):
    def test_the_sample_config_maps_a_contact_and_reads_its_crm_record_back(self):
        fields, defaulted = mapping.contact_fields(SAMPLE, "Mario Rossi", "+393471234567")
        self.assertEqual(fields[0], ("name", "Mario Rossi"))
        self.assertEqual(defaulted, ["customer_level"])
        name, phone, pulled = mapping.changes_from(
            SAMPLE, [("name", "Mario Rossi"), ("customer_level", "Gold"), ("lifecyclestage", "lead")]
        )
        self.assertEqual((name, phone, pulled), ("Mario Rossi", None, [("customer_level", "Gold")]))

    def test_a_malformed_config_is_an_error_that_says_so(self):
        with self.assertRaises(mapping.ConfigError):
            mapping.parse_config(b"pull_fields = 3")


if __name__ == "__main__":
    unittest.main()
