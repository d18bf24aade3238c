//! policy: the dated-policy model and its pure evaluation come with the policy issue.
