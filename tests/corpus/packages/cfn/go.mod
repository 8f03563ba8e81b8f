module example.com/corpus/cfn

go 1.22
