//! The directory's accounts by school, built once per load: a report for
//! one school reads that school's accounts, not the region's million. A
//! school's list holds its own accounts and the parents of its pupils
//! (a parent row lists the children's logins; a parent is of the schools
//! of those of them that are students), each once, in directory order.
//! Schools are keyed as the reports compare them: trimmed, in lower case.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct SchoolIndex {
    accounts: HashMap<String, Vec<u32>>,
}

/// How a school's name is compared: trimmed, each letter in lower case.
pub fn school_key(s: &str) -> String {
    s.trim().chars().flat_map(char::to_lowercase).collect()
}

impl SchoolIndex {
    /// `schools`: for each account in directory order, the schools it is
    /// of (its own, then its pupils'). A school's key is made once per
    /// spelling, not once per account.
    pub fn build<'a, I>(schools: impl Iterator<Item = I>) -> Self
    where
        I: IntoIterator<Item = &'a str>,
    {
        // Spelling → list, key → list, and the lists.
        let mut by_spelling: HashMap<&str, usize> = HashMap::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut lists: Vec<Vec<u32>> = Vec::new();
        for (i, of) in schools.enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let mut done: Vec<usize> = Vec::with_capacity(3);
            for school in of {
                let slot = *by_spelling.entry(school).or_insert_with(|| {
                    let next = lists.len();
                    let slot = *by_key.entry(school_key(school)).or_insert(next);
                    if slot == next {
                        lists.push(Vec::new());
                    }
                    slot
                });
                if !done.contains(&slot) {
                    lists[slot].push(i);
                    done.push(slot);
                }
            }
        }
        let accounts = by_key
            .into_iter()
            .map(|(key, slot)| (key, std::mem::take(&mut lists[slot])))
            .collect();
        Self { accounts }
    }

    /// Positions of the accounts of `school` (compared as [`school_key`]).
    pub fn get(&self, school: &str) -> &[u32] {
        self.accounts
            .get(&school_key(school))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use crate::identity::Directory;

    #[test]
    fn a_school_lists_its_accounts_and_its_pupils_parents_in_directory_order() {
        let text = "login,last_name,first_name,middle_name,snils,role,birth_date,school,class,children\n\
kid5,Петрова,Дарья,,,student,,СШ №5,7Б,\n\
kid7,Петров,Кирилл,,,student,,Гимназия №7,2А,\n\
mother,Петрова,Анна,,,parent,,СШ №5,,\"kid5 kid7\"\n\
father,Петров,Олег,,,parent,,,,kid7\n\
teacher,Иванова,Мария,,,staff,,сш №5 ,,\n\
odd,Сидоров,Иван,,,parent,,,,\"teacher nobody\"\n";
        let (dir, problems) = Directory::parse_csv(text.as_bytes(), "t.csv").expect("parses");
        assert!(problems.is_empty(), "{problems:?}");
        let of =
            |s: &str| -> Vec<&str> { dir.school_accounts(s).map(|a| a.login.0.as_str()).collect() };
        assert_eq!(of("СШ №5"), vec!["kid5", "mother", "teacher"]);
        assert_eq!(of(" сш №5"), of("СШ №5"), "any case, trimmed");
        assert_eq!(of("Гимназия №7"), vec!["kid7", "mother", "father"]);
        assert!(of("Лицей").is_empty());
        // A parent whose listed child is staff, or unknown, is of no school.
        assert!(of("").contains(&"odd"));
    }
}
