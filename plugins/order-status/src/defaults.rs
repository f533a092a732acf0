//! The parameters' defaults: Italian and English, chosen by the customer's
//! language (`parcel.language`).

/// Phrases that ask where the order is.
pub const KEYWORDS: &str = r#"{
  "it": ["dov'è il mio pacco", "dove è il mio pacco", "dov'è il pacco", "dov'è il mio ordine", "dove è il mio ordine",
         "dov'è la mia spedizione", "quando arriva il mio ordine", "quando arriva il pacco", "traccia il mio ordine",
         "tracciamento", "stato del mio ordine", "stato dell'ordine"],
  "en": ["where is my order", "where's my order", "where is my parcel", "where's my parcel", "where is my package",
         "where's my package", "track my order", "tracking number", "order status", "when will my order arrive"]
}"#;

/// The answer.
pub const REPLY: &str = r#"{% if parcel.language | default("it") == "it" %}Ciao{% if contact.first_name %} {{ contact.first_name }}{% endif %}! Il tuo ordine {{ order.number | default("") }} è {{ parcel.status | default("in viaggio") }}.{% if parcel.window %} Consegna prevista: {{ parcel.window }}.{% endif %}{% if parcel.link %} Segui il pacco qui: {{ parcel.link }}{% elif parcel.number %} Numero di tracciamento: {{ parcel.number }}{% endif %}{% else %}Hi{% if contact.first_name %} {{ contact.first_name }}{% endif %}! Your order {{ order.number | default("") }} is {{ parcel.status | default("on its way") }}.{% if parcel.window %} Expected delivery: {{ parcel.window }}.{% endif %}{% if parcel.link %} Track it here: {{ parcel.link }}{% elif parcel.number %} Tracking number: {{ parcel.number }}{% endif %}{% endif %}"#;

/// The answer without a recent order.
pub const NO_ORDER: &str = r#"{% if parcel.language | default("it") == "it" %}Non trovo ordini recenti a tuo nome: ci scrivi il numero dell'ordine? Ti rispondiamo subito.{% else %}We cannot find a recent order of yours: could you send us the order number? We will get back to you right away.{% endif %}"#;

/// The answer for an order that has not shipped.
pub const NOT_SHIPPED: &str = r#"{% if parcel.language | default("it") == "it" %}Il tuo ordine {{ order.number | default("") }} non è ancora partito{% if order.state %} (stato: {{ order.state }}){% endif %}: ti scriviamo appena lo affidiamo al corriere.{% else %}Your order {{ order.number | default("") }} has not shipped yet{% if order.state %} (status: {{ order.state }}){% endif %}: we will write as soon as the courier has it.{% endif %}"#;

/// A notice of a new status.
pub const NOTIFY: &str = r#"{% if parcel.language | default("it") == "it" %}Aggiornamento sul tuo ordine {{ order.number | default("") }}: {{ parcel.status | default("") }}.{% if parcel.window and parcel.tag != "delivered" %} Consegna prevista: {{ parcel.window }}.{% endif %}{% if parcel.link %} {{ parcel.link }}{% endif %}{% else %}Update on your order {{ order.number | default("") }}: {{ parcel.status | default("") }}.{% if parcel.window and parcel.tag != "delivered" %} Expected delivery: {{ parcel.window }}.{% endif %}{% if parcel.link %} {{ parcel.link }}{% endif %}{% endif %}"#;

/// Each status in the customer's words.
pub const STATUS_WORDS: &str = r#"{
  "it": {"pending": "in preparazione", "info-received": "pronto per la spedizione", "in-transit": "in viaggio",
         "out-for-delivery": "in consegna oggi", "available-for-pickup": "pronto per il ritiro", "delivered": "consegnato",
         "exception": "fermo per un problema: ce ne stiamo occupando", "failed-attempt": "non consegnato: il corriere ripasserà",
         "expired": "non più tracciato"},
  "en": {"pending": "being prepared", "info-received": "ready to ship", "in-transit": "on its way",
         "out-for-delivery": "out for delivery today", "available-for-pickup": "ready for pickup", "delivered": "delivered",
         "exception": "held up by a problem: we are on it", "failed-attempt": "not delivered: the courier will try again",
         "expired": "no longer tracked"}
}"#;
