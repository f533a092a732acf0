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

/// True when `region` is a region code the phone number data knows.
pub fn is_known_region(region: &str) -> bool {
    region.len() == 2 && region.to_ascii_uppercase().parse::<country::Id>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
