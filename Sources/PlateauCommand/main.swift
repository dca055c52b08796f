print("plateau")
