-- Reserved: the number of another branch's migration, merged in its place.
SELECT 1;
