"""Price sources: each turns one API's reply into price slots (parsers are pure; fetchers do the HTTP)."""
