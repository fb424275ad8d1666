-- Which model the books were kept in: 1, capital per buyer wallet and none moved by share
-- transfers; 2, capital per registry investor, carried by transfers between investors. Books
-- of model 1 are brought to model 2 once, by reversing their capital entries and booking the
-- events again (never by editing entries). A new index starts at 2.
ALTER TABLE idx_state ADD COLUMN books_model BIGINT NOT NULL DEFAULT 1;
