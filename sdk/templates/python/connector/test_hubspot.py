import pathlib
import unittest

import hubspot

SAMPLE = hubspot.parse_config((pathlib.Path(__file__).parent / "config.toml").read_bytes())


def case_of(f):
    try:
        f()
    except hubspot.Failure as e:
        return f"{e.case} {e.value}" if e.case == "rate-limited" else e.case
    return None


class HubSpotTest(unittest.TestCase):
    def test_hubspot_answers_become_the_contracts_records_and_errors(self):
        self.assertEqual(SAMPLE.page_size, 100)
        cases = [case_of(lambda s=s: hubspot.check("POST", "/x", s, [], b"{}")) for s in (401, 403, 400, 503)]
        self.assertEqual(cases, ["unauthorized", "unauthorized", "invalid", "unavailable"])
        self.assertEqual(case_of(lambda: hubspot.check("POST", "/x", 429, [("retry-after", "7")], b"")), "rate-limited 7")
        self.assertEqual(hubspot.contact_properties({"name": "Ada Lee"}), {"firstname": "Ada", "lastname": "Lee"})
        contact = {"id": "1001", "properties": {"firstname": "Ada", "lastmodifieddate": "2019-10-30T03:30:17.883Z"}}
        records, nxt = hubspot.Cursor.parse("").advance([contact])
        self.assertEqual(records[0].updated_at, 1572406217883)
        self.assertEqual(str(nxt), "1572406217883:1001")
        self.assertEqual(hubspot.Cursor.parse(str(nxt)).advance([contact])[0], [])

    def test_a_malformed_config_is_an_error_that_says_so(self):
        self.assertEqual(case_of(lambda: hubspot.parse_config(b"page_size = 500")), "invalid")
        self.assertEqual(case_of(lambda: hubspot.parse_config(b"colour = 'red'")), "invalid")


if __name__ == "__main__":
    unittest.main()
