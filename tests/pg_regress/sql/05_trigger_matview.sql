-- Labelling rows as they are inserted (trigger), and a materialized view that refreshes.
SET client_min_messages = error;

CREATE TABLE reviews (id serial PRIMARY KEY, body text, label text);
CREATE TRIGGER label_on_write BEFORE INSERT OR UPDATE ON reviews
FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('body', 'label', '物流问题, 商品质量,售后体验');

INSERT INTO reviews (body) VALUES ('快递太慢了'), ('质量不错'), (NULL);
SELECT id, label IN ('物流问题','商品质量','售后体验') AS labelled, label IS NULL AS null_label
FROM reviews ORDER BY id;
-- The trigger's answer is zs_classify's.
SELECT bool_and(label = zs_classify(body, ARRAY['物流问题','商品质量','售后体验'])) AS same_as_zs_classify
FROM reviews WHERE body IS NOT NULL;

-- UPDATE relabels; a label written by hand is replaced by the model's.
UPDATE reviews SET body = '退货很顺利，客服很耐心', label = 'hand-written' WHERE id = 1;
SELECT id, label IN ('物流问题','商品质量','售后体验') AS relabelled FROM reviews WHERE id = 1;
UPDATE reviews SET body = NULL WHERE id = 2;
SELECT id, label IS NULL AS cleared FROM reviews WHERE id = 2;

-- Misuse of the trigger.
CREATE TABLE wrong (id int, txt text, lab text);
CREATE TRIGGER t1 BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('nope', 'lab', 'a,b');
SELECT zs_try($$INSERT INTO wrong VALUES (1, 'x')$$) AS missing_column;
DROP TRIGGER t1 ON wrong;
CREATE TRIGGER t2 BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('txt');
SELECT zs_try($$INSERT INTO wrong VALUES (1, 'x')$$) AS wrong_arg_count;
DROP TRIGGER t2 ON wrong;
CREATE TRIGGER t3 AFTER INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('txt', 'lab', 'a,b');
SELECT zs_try($$INSERT INTO wrong VALUES (1, 'x')$$) AS after_trigger;
DROP TRIGGER t3 ON wrong;
CREATE TRIGGER t4 BEFORE INSERT ON wrong FOR EACH ROW EXECUTE FUNCTION zs_label_trigger('txt', 'lab', 'a,a');
SELECT zs_try($$INSERT INTO wrong VALUES (1, 'x')$$) AS duplicate_labels;
SELECT count(*) AS nothing_inserted FROM wrong;
DROP TABLE wrong;

-- A materialized view over zs_classify_scores, refreshed after new rows arrive.
CREATE TABLE feedback (id int PRIMARY KEY, body text);
INSERT INTO feedback VALUES (1, '物流很快'), (2, '东西坏了');
CREATE MATERIALIZED VIEW feedback_labels AS
SELECT id, zs_classify_scores(body, ARRAY['物流问题','商品质量','售后体验']) AS result FROM feedback;
SELECT count(*) FROM feedback_labels;
INSERT INTO feedback VALUES (3, '客服不理人'), (4, '价格太贵');
SELECT count(*) FROM feedback_labels;
REFRESH MATERIALIZED VIEW feedback_labels;
SELECT id, result->>'label' IN ('物流问题','商品质量','售后体验') AS labelled,
       result = zs_classify_scores(f.body, ARRAY['物流问题','商品质量','售后体验']) AS fresh
FROM feedback_labels JOIN feedback f USING (id) ORDER BY id;
