module github.com/wsx-go/wsx

go 1.25
