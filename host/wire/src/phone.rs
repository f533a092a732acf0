//! Phone numbers to E.164, with the `phonenumber` crate (libphonenumber's data).
//!
//! WhatsApp ids are international numbers without the "+", but a few countries'
//! ids differ from the E.164 form: Mexican mobiles arrive as 52 **1** + 10 digits
//! (the "1" was dropped from dialling in 2019), and older Brazilian mobile ids lack
//! the ninth digit. Numbers written by people (shared contact cards, CRM fields)
//! may have no country code: the tenant's default region fills it in.

use phonenumber::{Mode, country};

/// Normalises a WhatsApp id (digits, no "+") to E.164; `None` when it is not a
/// valid number.
pub fn wa_id_to_e164(wa_id: &str) -> Option<String> {
    if wa_id.is_empty() || !wa_id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    to_e164(&format!("+{}", canonical_digits(wa_id)), None)
}

/// The E.164 digits (no "+") a WhatsApp id stands for, without validating them:
/// only the Mexican and Brazilian forms are rewritten. Cheap (no parsing), for keys.
pub fn canonical_digits(wa_id: &str) -> std::borrow::Cow<'_, str> {
    if !wa_id.bytes().all(|b| b.is_ascii_digit()) {
        return wa_id.into();
    }
    if wa_id.len() == 13 && wa_id.starts_with("521") {
        // Mexico: 52 1 XXXXXXXXXX → +52 XXXXXXXXXX.
        format!("52{}", &wa_id[3..]).into()
    } else if wa_id.len() == 12
        && wa_id.starts_with("55")
        && matches!(wa_id.as_bytes()[4], b'6'..=b'9')
    {
        // Brazil: 55 DD XXXXXXXX (mobile without the ninth digit) → 55 DD 9XXXXXXXX.
        format!("55{}9{}", &wa_id[2..4], &wa_id[4..]).into()
    } else {
        wa_id.into()
    }
}

/// Normalises a number as a person wrote it, using `default_region` (ISO 3166
/// alpha-2, e.g. "IT") when it has no country code; `None` when it is not valid.
pub fn to_e164(raw: &str, default_region: Option<&str>) -> Option<String> {
    let region = default_region.and_then(|r| r.to_ascii_uppercase().parse::<country::Id>().ok());
    let number = phonenumber::parse(region, raw).ok()?;
    phonenumber::is_valid(&number).then(|| number.format().mode(Mode::E164).to_string())
}

/// The country (ISO 3166 alpha-2) a WhatsApp id's number belongs to, e.g. "IT" for
/// 39…; `None` when the number is not valid. Meta prices messages by it.
pub fn region_of_wa_id(wa_id: &str) -> Option<String> {
    if wa_id.is_empty() || !wa_id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = phonenumber::parse(None, format!("+{}", canonical_digits(wa_id))).ok()?;
    let id = number.country().id()?;
    Some(id.as_ref().to_string())
}

/// Why a number from a CRM could not be normalised: kept with the record, never
/// silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneProblem {
    /// Nothing that could be a number.
    #[error("no digits in {0:?}")]
    NoDigits(String),
    /// No country code, and no region to read the number in.
    #[error("{0:?} has no country code (+…) and the tenant has no default region")]
    NoRegion(String),
    /// The phone number data does not accept it.
    #[error("{raw:?} is not a valid number{}", region.as_ref().map(|r| format!(" (read in region {r})")).unwrap_or_default())]
    Invalid {
        /// The number as the CRM had it.
        raw: String,
        /// The region it was read in, if it had no country code.
        region: Option<String>,
    },
}

/// The ISO 3166 alpha-2 region of a CRM's country field: an alpha-2 or alpha-3 code
/// or an English name ("HK", "HKG", "Hong Kong"); `None` when it is none of those.
pub fn region_of_country(country: &str) -> Option<String> {
    let squeezed: String = country.chars().filter(|c| c.is_alphanumeric()).collect();
    if squeezed.is_empty() {
        return None;
    }
    let alpha2 = if squeezed.len() == 2 {
        squeezed.to_ascii_uppercase()
    } else {
        squeezed.parse::<celes::Country>().ok()?.alpha2.to_string()
    };
    is_known_region(&alpha2).then_some(alpha2)
}

/// Normalises a number from a CRM record to E.164, whatever its spelling (spaces,
/// dots, dashes, parentheses, a leading `+` or `00`). A number without a country
/// code is read in the record's own `country` (see [`region_of_country`]) when it
/// names one, else in the tenant's `default_region`. Two national habits are
/// repaired as WhatsApp ids are: a Mexican mobile written with the old "1" after
/// +52, and a Brazilian mobile written without its ninth digit.
///
/// # Errors
/// [`PhoneProblem`] says why the number cannot be used.
pub fn crm_phone_to_e164(
    raw: &str,
    country: Option<&str>,
    default_region: Option<&str>,
) -> Result<String, PhoneProblem> {
    if !raw.chars().any(|c| c.is_ascii_digit()) {
        return Err(PhoneProblem::NoDigits(raw.to_string()));
    }
    let international = {
        let t = raw.trim_start();
        t.starts_with('+') || t.starts_with("00")
    };
    let region = country
        .and_then(region_of_country)
        .or_else(|| default_region.map(str::to_ascii_uppercase));
    if !international && region.is_none() {
        return Err(PhoneProblem::NoRegion(raw.to_string()));
    }
    let invalid = || PhoneProblem::Invalid {
        raw: raw.to_string(),
        region: (!international).then(|| region.clone()).flatten(),
    };
    let id = region
        .as_deref()
        .and_then(|r| r.parse::<country::Id>().ok());
    let number = phonenumber::parse(id, raw).map_err(|_| invalid())?;
    if phonenumber::is_valid(&number) {
        return Ok(number.format().mode(Mode::E164).to_string());
    }
    // +52 1 XX… and +55 DD 8-digit mobiles: the digits a WhatsApp id would carry,
    // repaired the same way.
    let digits = format!("{}{}", number.code().value(), number.national().value());
    let repaired = canonical_digits(&digits);
    if repaired != digits
        && let Some(e164) = to_e164(&format!("+{repaired}"), None)
    {
        return Ok(e164);
    }
    Err(invalid())
}

/// True when `region` is a region code the phone number data knows.
pub fn is_known_region(region: &str) -> bool {
    region.len() == 2 && region.to_ascii_uppercase().parse::<country::Id>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_of_a_wa_id() {
        assert_eq!(region_of_wa_id("393471234567").as_deref(), Some("IT"));
        assert_eq!(region_of_wa_id("14155552671").as_deref(), Some("US"));
        assert_eq!(region_of_wa_id("5215512345678").as_deref(), Some("MX"));
        assert_eq!(region_of_wa_id("12"), None);
        assert_eq!(region_of_wa_id("+39"), None);
    }

    #[test]
    fn crm_numbers_are_read_in_the_records_country_or_the_tenants_region() {
        let ok = |raw: &str, country: Option<&str>, region: Option<&str>| {
            crm_phone_to_e164(raw, country, region).unwrap_or_else(|e| panic!("{raw}: {e}"))
        };
        // Hong Kong: 8 digits, no trunk prefix.
        assert_eq!(ok("9123 4567", None, Some("HK")), "+85291234567");
        assert_eq!(
            ok("9123 4567", Some("Hong Kong"), Some("IT")),
            "+85291234567"
        );
        assert_eq!(ok("+852 9123-4567", None, Some("IT")), "+85291234567");
        // Italy, with and without +39 / 0039, mobile and landline (its 0 is kept).
        for raw in [
            "347 123 4567",
            "+39 347 1234567",
            "0039 347.123.4567",
            "(347) 123-4567",
        ] {
            assert_eq!(ok(raw, None, Some("IT")), "+393471234567", "{raw}");
        }
        assert_eq!(ok("06 1234 5678", Some("IT"), None), "+390612345678");
        assert_eq!(ok("347 123 4567", Some("ITA"), Some("HK")), "+393471234567");
        // Mexico: the old "1" after +52 is dropped, as in WhatsApp ids.
        assert_eq!(ok("+52 1 55 1234 5678", None, None), "+525512345678");
        assert_eq!(ok("+52 55 1234 5678", None, None), "+525512345678");
        assert_eq!(ok("55 1234 5678", Some("Mexico"), None), "+525512345678");
        // Brazil: a mobile without its ninth digit gets it.
        assert_eq!(ok("+55 11 8765-4321", None, None), "+5511987654321");
        assert_eq!(ok("(11) 98765-4321", Some("BR"), None), "+5511987654321");
        assert_eq!(ok("(11) 8765-4321", Some("Brazil"), None), "+5511987654321");
        // A country the data does not know falls back to the tenant's region.
        assert_eq!(
            ok("347 123 4567", Some("Atlantis"), Some("IT")),
            "+393471234567"
        );
    }

    #[test]
    fn crm_numbers_that_cannot_be_used_say_why() {
        assert_eq!(
            crm_phone_to_e164("n/a", None, Some("IT")),
            Err(PhoneProblem::NoDigits("n/a".into()))
        );
        assert_eq!(
            crm_phone_to_e164("347 123 4567", None, None),
            Err(PhoneProblem::NoRegion("347 123 4567".into()))
        );
        let e = crm_phone_to_e164("123", None, Some("IT")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"123\" is not a valid number (read in region IT)"
        );
        let e = crm_phone_to_e164("+39 12", None, Some("HK")).unwrap_err();
        assert_eq!(e.to_string(), "\"+39 12\" is not a valid number");
    }

    #[test]
    fn normalises_wa_ids_to_e164() {
        assert_eq!(
            wa_id_to_e164("16505551234").as_deref(),
            Some("+16505551234")
        );
        assert_eq!(
            wa_id_to_e164("393471234567").as_deref(),
            Some("+393471234567")
        );
        assert_eq!(
            wa_id_to_e164("85291234567").as_deref(),
            Some("+85291234567")
        );
        assert_eq!(
            wa_id_to_e164("5491123456789").as_deref(),
            Some("+5491123456789")
        );
    }

    #[test]
    fn fixes_mexican_and_brazilian_mobile_ids() {
        assert_eq!(
            wa_id_to_e164("5215512345678").as_deref(),
            Some("+525512345678")
        );
        assert_eq!(
            wa_id_to_e164("551198765432").as_deref(),
            Some("+5511998765432")
        );
        assert_eq!(
            wa_id_to_e164("5511998765432").as_deref(),
            Some("+5511998765432")
        );
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        assert_eq!(wa_id_to_e164(""), None);
        assert_eq!(wa_id_to_e164("12ab"), None);
        assert_eq!(wa_id_to_e164("1"), None);
    }

    #[test]
    fn uses_the_default_region_for_national_numbers() {
        assert_eq!(
            to_e164("347 123 4567", Some("IT")).as_deref(),
            Some("+393471234567")
        );
        assert_eq!(
            to_e164("+1 (650) 555-1234", Some("IT")).as_deref(),
            Some("+16505551234")
        );
        assert!(is_known_region("it"));
        assert!(!is_known_region("XX"));
    }
}
