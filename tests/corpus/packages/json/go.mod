module example.com/corpus/json

go 1.22
