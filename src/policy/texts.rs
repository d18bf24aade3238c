//! The region's own words that are not a stage's: what a person whose ESIA
//! account is below a stage's trust reads, one text per level wanted
//! (`[confirm.standard]`, `[confirm.confirmed]` in the policy file). The
//! defaults here are neutral on purpose — no dates, no bank names, no
//! counts of service centres — because they stay true in any region and
//! any year; a region puts its own dates and ways in its file.

use std::sync::Arc;

/// The confirmation page's texts for one level wanted. HTML, sanitised at
/// load (the defaults are written here and need none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmPage {
    pub title: String,
    /// Why: the rule, with its date as the region states it.
    pub message: String,
    /// How to get there, one way per item.
    pub ways: Vec<String>,
    /// Anything else the region says (children's accounts, where to bring
    /// the SNILS), one paragraph each.
    pub notes: Vec<String>,
}

/// The confirmation page for each level a stage may want (picked by
/// `ConfirmTexts::for_trust`, beside `Trust` in `model`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmTexts {
    pub standard: Arc<ConfirmPage>,
    pub confirmed: Arc<ConfirmPage>,
}

impl Default for ConfirmTexts {
    fn default() -> Self {
        Self {
            standard: Arc::new(ConfirmPage::default_standard()),
            confirmed: Arc::new(ConfirmPage::default_confirmed()),
        }
    }
}

impl ConfirmPage {
    /// What anyone below a standard account reads when the region wrote
    /// nothing of its own.
    pub fn default_standard() -> Self {
        Self {
            title: "Нужна стандартная учётная запись Госуслуг".into(),
            message: "Электронный дневник открывается с учётной записью Госуслуг не ниже \
                      стандартной: в ней должны быть проверены паспортные данные и СНИЛС."
                .into(),
            ways: vec![
                "войдите на gosuslugi.ru, откройте профиль и заполните паспортные данные и СНИЛС;"
                    .into(),
                "дождитесь конца автоматической проверки: обычно несколько минут, иногда до \
                 пяти дней; о результате придёт уведомление;"
                    .into(),
                "или сразу получите подтверждённую учётную запись в МФЦ или другом центре \
                 обслуживания — с паспортом и СНИЛС."
                    .into(),
            ],
            notes: Vec::new(),
        }
    }

    /// What anyone below a confirmed account reads when the region wrote
    /// nothing of its own.
    pub fn default_confirmed() -> Self {
        Self {
            title: "Нужна подтверждённая учётная запись Госуслуг".into(),
            message: "Электронный дневник открывается только с подтверждённой учётной записью \
                      Госуслуг."
                .into(),
            ways: vec![
                "лично в МФЦ или другом центре обслуживания — с паспортом и СНИЛС;".into(),
                "онлайн: в профиле на gosuslugi.ru выберите подтверждение учётной записи и один \
                 из способов, которые там предложены;"
                    .into(),
                "кодом подтверждения, заказанным на gosuslugi.ru письмом по почте.".into(),
            ],
            notes: Vec::new(),
        }
    }
}
