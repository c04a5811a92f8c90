DROP TABLE calendar_tokens;
